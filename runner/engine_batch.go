package runner

import (
	"context"
	"sync"
)

// batcher collects requests that arrive while the previous flush runs and
// handles them in one flush: one database transaction for many executions
// under load, no added wait when idle.
type batcher[T, R any] struct {
	in    chan batchItem[T, R]
	flush func(ctx context.Context, items []T) ([]R, error)
	max   int
	once  sync.Once
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

func newBatcher[T, R any](max int, flush func(context.Context, []T) ([]R, error)) *batcher[T, R] {
	return &batcher[T, R]{in: make(chan batchItem[T, R], max), flush: flush, max: max}
}

// do submits v and waits for its result.
func (b *batcher[T, R]) do(ctx context.Context, v T) (R, error) {
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

func (b *batcher[T, R]) loop() {
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
