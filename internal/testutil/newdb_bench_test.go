package testutil

import "testing"

func BenchmarkNewDB(b *testing.B) {
	for b.Loop() {
		NewDB(b)
	}
}
