// SPDX-License-Identifier: Apache-2.0
// Go fixture: built stripped (-ldflags=-s -w), so only .gopclntab can name spinGo.
package main

import (
	"os"
	"strconv"
	"time"
)

var sink uint64

//go:noinline
func spinGo(n uint64) uint64 {
	s := uint64(3)
	for i := uint64(0); i < n; i++ {
		s = s*6364136223846793005 + (i ^ (s >> 13))
	}
	return s
}

func main() {
	secs := 1.0
	if len(os.Args) > 1 {
		if v, err := strconv.ParseFloat(os.Args[1], 64); err == nil {
			secs = v
		}
	}
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	for time.Now().Before(end) {
		sink += spinGo(200000)
	}
}
