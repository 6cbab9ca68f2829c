package batch

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Values that arrive while a flush runs share the next flush, and each
// caller gets its own value's result.
func TestBatcherSharesFlushesAndAnswersEachCaller(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	started, release := make(chan struct{}), make(chan struct{})
	b := New(8, func(_ context.Context, vs []int) ([]int, error) {
		mu.Lock()
		sizes = append(sizes, len(vs))
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			close(started)
			<-release // hold the first flush while the others queue up
		}
		out := make([]int, len(vs))
		for i, v := range vs {
			out[i] = v * 10
		}
		return out, nil
	})
	var wg sync.WaitGroup
	first := make(chan int, 1)
	errs := make(chan error, 21)
	wg.Go(func() {
		r, err := b.Do(context.Background(), 1)
		errs <- err
		first <- r
	})
	<-started
	results := make([]int, 20)
	for i := range results {
		wg.Go(func() {
			r, err := b.Do(context.Background(), i+2)
			errs <- err
			results[i] = r
		})
	}
	// The queue holds 8 while the first flush runs; the other 12 wait to
	// be accepted. Watching the queue fill is the synchronisation.
	deadline := time.After(time.Minute)
	for len(b.in) < cap(b.in) {
		select {
		case <-deadline:
			t.Fatalf("the queue never filled: %d of %d", len(b.in), cap(b.in))
		default:
			time.Sleep(time.Millisecond) // polling a condition, not waiting for time to pass
		}
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if r := <-first; r != 10 {
		t.Fatalf("first: %d", r)
	}
	for i, r := range results {
		if r != (i+2)*10 {
			t.Fatalf("caller %d got %d", i, r)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for _, n := range sizes {
		if n > 8 {
			t.Fatalf("a batch of %d: the maximum is 8 (%v)", n, sizes)
		}
		total += n
	}
	if total != 21 || sizes[0] != 1 || sizes[1] != 8 {
		t.Fatalf("batches %v: want 1, then the 8 that queued meanwhile, 21 values in all", sizes)
	}
}

// A flush's error reaches every caller in its batch.
func TestBatcherErrorReachesTheBatch(t *testing.T) {
	boom := errors.New("boom")
	b := New(4, func(context.Context, []int) ([]int, error) { return nil, boom })
	if _, err := b.Do(context.Background(), 1); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}

// A lingering batcher waits for company when a batch is small: a trickle
// of values makes one batch, flushed as soon as it is full.
func TestLingeringBatcherCollectsATrickle(t *testing.T) {
	var sizes []int
	var mu sync.Mutex
	b := NewLingering(5, time.Hour, func(_ context.Context, vs []int) ([]int, error) {
		mu.Lock()
		sizes = append(sizes, len(vs))
		mu.Unlock()
		return make([]int, len(vs)), nil
	})
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() { _, _ = b.Do(context.Background(), i) })
		time.Sleep(2 * time.Millisecond) // a trickle, whatever the timing: the linger is an hour
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 1 || sizes[0] != 5 {
		t.Fatalf("batches %v, want one of 5", sizes)
	}
}

// A lingering batcher never holds a small batch past its linger.
func TestLingeringBatcherFlushesAfterTheLinger(t *testing.T) {
	b := NewLingering(64, 20*time.Millisecond, func(_ context.Context, vs []int) ([]int, error) {
		return vs, nil
	})
	done := make(chan int, 1)
	go func() {
		r, _ := b.Do(context.Background(), 7)
		done <- r
	}()
	select {
	case r := <-done:
		if r != 7 {
			t.Fatalf("got %d", r)
		}
	case <-time.After(time.Minute):
		t.Fatal("a lone value was never flushed")
	}
}
