package ratelimit

import (
	"sync"
	"testing"
	"time"
)

func TestFailuresTakeDecayRefund(t *testing.T) {
	now := time.Unix(1000, 0)
	f := NewFailures(10 * time.Second).WithClock(func() time.Time { return now })
	for i := 1; i <= 3; i++ {
		if ok, n, _ := f.Take("a", 3); !ok || n != float64(i) {
			t.Fatalf("take %d: ok=%v n=%v", i, ok, n)
		}
	}
	if ok, _, wait := f.Take("a", 3); ok || wait != 10*time.Second {
		t.Fatalf("4th take: ok=%v wait=%v, want refused for 10s", ok, wait)
	}
	if ok, _, _ := f.Take("b", 3); !ok {
		t.Fatal("another key was limited")
	}
	now = now.Add(4 * time.Second)
	if w := f.Wait("a", 3); w != 6*time.Second {
		t.Fatalf("after 4s wait %v, want 6s", w)
	}
	f.Refund("a")
	if ok, _, _ := f.Take("a", 3); !ok {
		t.Fatal("a refund did not make room")
	}
	if n := f.Add("a"); n <= 3 {
		t.Fatalf("Add counts beyond the limit: %v", n)
	}
	now = now.Add(time.Hour)
	if c := f.Count("a"); c != 0 {
		t.Fatalf("count after an hour %v", c)
	}
	// Decayed keys are forgotten by the sweep.
	for range sweepEvery {
		f.Count("x")
	}
	if n := f.Len(); n != 0 {
		t.Fatalf("%d keys kept after decay", n)
	}
}

// Parallel takes never admit more than the limit.
func TestFailuresParallelTakes(t *testing.T) {
	f := NewFailures(time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _, _ := f.Take("k", 5); ok {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if admitted != 5 {
		t.Fatalf("admitted %d, want 5", admitted)
	}
}

func TestFailuresDisabled(t *testing.T) {
	var nilF *Failures
	if ok, _, _ := nilF.Take("k", 1); !ok {
		t.Fatal("nil Failures refused")
	}
	f := NewFailures(0)
	for range 10 {
		if ok, _, _ := f.Take("k", 1); !ok {
			t.Fatal("zero period refused")
		}
	}
}

func TestFailuresKeysAreBounded(t *testing.T) {
	f := NewFailures(time.Hour)
	f.maxKeys = 64
	for i := range 1000 {
		f.Add(string(rune('a'+i%26)) + string(rune(i)))
		if n := f.Len(); n > 64 {
			t.Fatalf("%d keys held, at most 64", n)
		}
	}
}
