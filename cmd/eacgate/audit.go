package main

import (
	"context"
	"fmt"
)

// runAudit is a placeholder until its package lands.
func runAudit(ctx context.Context, c cli) int {
	fmt.Fprintln(c.stderr, "eacgate audit: not built yet")
	return 2
}
