package logthrottle

import (
	"fmt"
	"testing"
	"time"
)

func TestOneLinePerKeyPerPeriodWithCount(t *testing.T) {
	now := time.Unix(1000, 0)
	th := New(time.Minute).WithClock(func() time.Time { return now })
	if ok, n := th.Note("a"); !ok || n != 1 {
		t.Fatalf("first: %v %d", ok, n)
	}
	for range 199 {
		if ok, _ := th.Note("a"); ok {
			t.Fatal("logged again within the period")
		}
	}
	if ok, n := th.Note("b"); !ok || n != 1 {
		t.Fatalf("another key: %v %d", ok, n)
	}
	now = now.Add(time.Minute)
	if ok, n := th.Note("a"); !ok || n != 200 {
		t.Fatalf("after the period: %v %d, want the 199 held and this one", ok, n)
	}
	if ok, _ := th.Note("a"); ok {
		t.Fatal("logged twice in the new period")
	}
}

func TestKeysAreBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	th := New(time.Minute).WithClock(func() time.Time { return now })
	th.max = 100
	for i := range 1000 {
		th.Note(fmt.Sprint(i))
	}
	if len(th.keys) > 100 {
		t.Fatalf("%d keys kept", len(th.keys))
	}
}
