// Command hello is the demo build for go-cache-plugin (see scripts/demo.sh).
package main

import (
	"fmt"
	"strings"
)

func main() { fmt.Println(strings.ToUpper("hello from a cached build")) }
