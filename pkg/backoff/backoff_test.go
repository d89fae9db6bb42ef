package backoff

import (
	"context"
	"testing"
	"time"
)

func TestGrowsWithJitterAndResets(t *testing.T) {
	for _, r := range []float64{0, 0.5, 0.999} {
		b := New(100*time.Millisecond, time.Second).WithRand(func() float64 { return r })
		bases := []time.Duration{100, 200, 400, 800, 1000, 1000}
		for i, base := range bases {
			base *= time.Millisecond
			d := b.Next()
			if d < base/2 || d > base {
				t.Fatalf("r=%v failure %d: delay %v outside [%v, %v]", r, i+1, d, base/2, base)
			}
		}
		b.Reset()
		if d := b.Next(); d > 100*time.Millisecond {
			t.Fatalf("after reset: %v", d)
		}
	}
}

func TestJitterSpreadsACrowd(t *testing.T) {
	seen := map[time.Duration]bool{}
	for i := 0; i < 100; i++ {
		seen[New(time.Second, time.Minute).Next()] = true
	}
	if len(seen) < 90 {
		t.Fatalf("100 clients drew only %d distinct delays", len(seen))
	}
}

func TestWaitStopsWithContext(t *testing.T) {
	never := make(chan time.Time)
	b := New(time.Hour, time.Hour).WithAfter(func(time.Duration) <-chan time.Time { return never })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if b.Wait(ctx) {
		t.Fatal("Wait went on after cancel")
	}
	fired := make(chan time.Time, 1)
	fired <- time.Now()
	b.WithAfter(func(time.Duration) <-chan time.Time { return fired })
	if !b.Wait(context.Background()) {
		t.Fatal("Wait gave up though the timer fired")
	}
}
