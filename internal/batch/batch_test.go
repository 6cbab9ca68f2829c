package batch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Values that arrive while a flush runs share the next flush, and each
// caller gets its own value's result.
func TestBatcherSharesFlushesAndAnswersEachCaller(t *testing.T) {
	var flushes, biggest atomic.Int64
	release := make(chan struct{})
	b := New(8, func(_ context.Context, vs []int) ([]int, error) {
		if flushes.Add(1) == 1 {
			<-release // hold the first flush while the others queue up
		}
		if n := int64(len(vs)); n > biggest.Load() {
			biggest.Store(n)
		}
		out := make([]int, len(vs))
		for i, v := range vs {
			out[i] = v * 10
		}
		return out, nil
	})
	var wg sync.WaitGroup
	first := make(chan int, 1)
	wg.Go(func() {
		r, err := b.Do(context.Background(), 1)
		if err != nil {
			t.Error(err)
		}
		first <- r
	})
	for flushes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	results := make([]int, 20)
	for i := range results {
		wg.Go(func() {
			r, err := b.Do(context.Background(), i+2)
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		})
	}
	time.Sleep(50 * time.Millisecond) // let them queue
	close(release)
	wg.Wait()
	if r := <-first; r != 10 {
		t.Fatalf("first: %d", r)
	}
	for i, r := range results {
		if r != (i+2)*10 {
			t.Fatalf("caller %d got %d", i, r)
		}
	}
	if biggest.Load() != 8 {
		t.Fatalf("largest batch %d, want the maximum 8", biggest.Load())
	}
	if n := flushes.Load(); n < 4 || n > 5 {
		t.Fatalf("%d flushes for 21 values in batches of up to 8", n)
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

// A lingering batcher waits for company when a batch is small, and no
// longer than the linger.
func TestLingeringBatcherCollectsATrickle(t *testing.T) {
	var sizes []int
	var mu sync.Mutex
	b := NewLingering(64, 100*time.Millisecond, func(_ context.Context, vs []int) ([]int, error) {
		mu.Lock()
		sizes = append(sizes, len(vs))
		mu.Unlock()
		return make([]int, len(vs)), nil
	})
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 5 {
		wg.Go(func() { _, _ = b.Do(context.Background(), i) })
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	took := time.Since(start)
	if len(sizes) != 1 || sizes[0] != 5 {
		t.Fatalf("batches %v, want one of 5", sizes)
	}
	if took > 2*time.Second {
		t.Fatalf("took %s", took)
	}
}
