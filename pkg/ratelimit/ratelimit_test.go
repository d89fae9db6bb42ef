package ratelimit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestBurstThenRefill(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(3, 10*time.Second).WithClock(func() time.Time { return now })
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("u:alice"); !ok {
			t.Fatalf("event %d refused within burst", i+1)
		}
	}
	ok, wait := l.Allow("u:alice")
	if ok || wait != 10*time.Second {
		t.Fatalf("4th event: ok=%v wait=%v, want refused for 10s", ok, wait)
	}
	if ok, _ := l.Allow("u:bob"); !ok {
		t.Fatal("another key was limited")
	}
	now = now.Add(4 * time.Second)
	if ok, wait := l.Check("u:alice"); ok || wait != 6*time.Second {
		t.Fatalf("after 4s: ok=%v wait=%v, want refused for 6s", ok, wait)
	}
	now = now.Add(6 * time.Second)
	if ok, _ := l.Check("u:alice"); !ok {
		t.Fatal("not refilled after 10s")
	}
	if ok, _ := l.Allow("u:alice"); !ok {
		t.Fatal("refilled token not granted")
	}
	if ok, _ := l.Allow("u:alice"); ok {
		t.Fatal("only one token should have refilled")
	}
}

func TestCheckDoesNotConsume(t *testing.T) {
	l := New(1, time.Hour)
	for i := 0; i < 5; i++ {
		if ok, _ := l.Check("k"); !ok {
			t.Fatal("Check consumed")
		}
	}
	if l.Len() != 0 {
		t.Fatalf("Check created %d buckets", l.Len())
	}
}

func TestZeroBurstDisables(t *testing.T) {
	l := New(0, time.Second)
	for i := 0; i < 100; i++ {
		if ok, _ := l.Allow("k"); !ok {
			t.Fatal("disabled limiter refused")
		}
	}
}

func TestSweepForgetsRefilledKeys(t *testing.T) {
	now := time.Unix(0, 0)
	l := New(2, time.Second).WithClock(func() time.Time { return now })
	for i := 0; i < sweepEvery-1; i++ {
		l.Allow(fmt.Sprint("ip:", i))
	}
	now = now.Add(time.Minute)
	l.Allow("trigger") // the sweepEvery-th operation sweeps
	if n := l.Len(); n != 1 {
		t.Fatalf("after sweep %d keys remain, want 1", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	l := New(100, time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if ok, _ := l.Allow("shared"); ok {
					mu.Lock()
					granted++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if granted != 100 {
		t.Fatalf("granted %d of 400, want exactly the burst of 100", granted)
	}
}
