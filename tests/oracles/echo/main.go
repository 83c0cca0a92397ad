// Command echo answers each JSON line with itself: the smallest oracle, which tests the
// line protocol every oracle speaks (one JSON object in, one JSON object out).
package main

import (
	"bufio"
	"os"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		out.Write(in.Bytes())
		out.WriteByte('\n')
		out.Flush()
	}
}
