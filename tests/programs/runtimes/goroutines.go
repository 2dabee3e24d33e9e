// Eight goroutines hash in parallel; the output carries the time, a random
// number and the order in which the goroutines finished.
package main

import (
	"crypto/sha256"
	"fmt"
	"math/rand"
	"sync"
	"time"
)

func main() {
	var wg sync.WaitGroup
	var mu sync.Mutex
	order := []int{}
	sums := make([][32]byte, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			sum := sha256.Sum256([]byte{byte(g)})
			for i := 0; i < 20000; i++ {
				sum = sha256.Sum256(sum[:])
			}
			sums[g] = sum
			mu.Lock()
			order = append(order, g)
			mu.Unlock()
		}(g)
	}
	wg.Wait()
	fmt.Printf("%x %v %d %d\n", sums[7][:4], order, time.Now().UnixNano(), rand.Int63())
}
