// Package batch lets concurrent callers share one flush (typically one
// database transaction): whatever arrives while a flush runs goes into the
// next one, so there is no added wait when idle and few commits under load.
package batch

import (
	"context"
	"sync"
	"time"
)

// Batcher collects values that arrive while the previous flush runs and
// hands them to the next flush together, at most max at a time.
type Batcher[T, R any] struct {
	in     chan batchItem[T, R]
	flush  func(ctx context.Context, items []T) ([]R, error)
	max    int
	linger time.Duration
	once   sync.Once
}

type batchItem[T, R any] struct {
	ctx context.Context
	v   T
	out chan batchResult[R]
}

type batchResult[R any] struct {
	r   R
	err error
}

// New returns a batcher calling flush with up to max values; flush returns
// one result per value, or an error that every caller in the batch gets.
// The batcher's goroutine starts with the first Do and lives as long as
// the process.
func New[T, R any](max int, flush func(context.Context, []T) ([]R, error)) *Batcher[T, R] {
	return &Batcher[T, R]{in: make(chan batchItem[T, R], max), flush: flush, max: max}
}

// NewLingering is New for flushes that need not run at once: a flush that
// would carry fewer than max values first waits up to linger for more, so
// that a steady trickle makes few large batches rather than many small ones.
func NewLingering[T, R any](size int, linger time.Duration, flush func(context.Context, []T) ([]R, error)) *Batcher[T, R] {
	return &Batcher[T, R]{in: make(chan batchItem[T, R], size), flush: flush, max: size, linger: linger}
}

// Do submits v and waits for its result. Once v is accepted its flush runs
// whatever ctx says (a value handed over is always written); ctx only
// bounds the wait to be accepted.
func (b *Batcher[T, R]) Do(ctx context.Context, v T) (R, error) {
	b.once.Do(func() { go b.loop() })
	it := batchItem[T, R]{ctx: ctx, v: v, out: make(chan batchResult[R], 1)}
	var zero R
	select {
	case b.in <- it:
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	res := <-it.out // the flush always answers, even when ctx ends
	return res.r, res.err
}

func (b *Batcher[T, R]) loop() {
	items := make([]batchItem[T, R], 0, b.max)
	for first := range b.in {
		items = append(items[:0], first)
	drain:
		for len(items) < b.max {
			select {
			case it := <-b.in:
				items = append(items, it)
			default:
				break drain
			}
		}
		if b.linger > 0 && len(items) < b.max {
			timer := time.NewTimer(b.linger)
		wait:
			for len(items) < b.max {
				select {
				case it := <-b.in:
					items = append(items, it)
				case <-timer.C:
					break wait
				}
			}
			timer.Stop()
		}
		vs := make([]T, len(items))
		for i, it := range items {
			vs[i] = it.v
		}
		// Items were accepted, so they are flushed whatever their
		// callers' contexts say: a finished attempt must be recorded.
		rs, err := b.flush(context.WithoutCancel(items[0].ctx), vs)
		for i, it := range items {
			if err != nil {
				it.out <- batchResult[R]{err: err}
			} else {
				it.out <- batchResult[R]{r: rs[i]}
			}
		}
	}
}
