package kademlia

import (
	"context"
	"sync"
)

// fanOut calls fn for every item, each on its own goroutine, at most limit
// at a time (limit <= 0: all at once), and waits for them all. While it
// waits for a free slot and ctx ends, it starts no more (fn sees ctx too);
// it returns how many it started.
func fanOut[T any](ctx context.Context, items []T, limit int, fn func(i int, item T)) int {
	var wg sync.WaitGroup
	defer wg.Wait()
	var slots chan struct{}
	if limit > 0 {
		slots = make(chan struct{}, limit)
	}
	for i, it := range items {
		if slots != nil {
			if ctx.Err() != nil {
				return i
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return i
			}
		}
		wg.Go(func() {
			if slots != nil {
				defer func() { <-slots }()
			}
			fn(i, it)
		})
	}
	return len(items)
}
