package main

import (
	"context"
	"fmt"
	"strings"

	"eacgate/store"
)

// holderRights shows, sets (--set) or clears (--clear) the data groups a DV's or terminal's
// certificates may grant (within its issuer's; cleared: the issuer's policy).
func holderRights(ctx context.Context, c cli, st *store.Store, country, mnemonic, set string, clear bool) int {
	if country == "" || mnemonic == "" || (set != "" && clear) {
		fmt.Fprintln(c.stderr, "holder rights needs --country CC --mnemonic M, and at most one of --set dg3,dg4 and --clear")
		return 2
	}
	h, code := findHolder(ctx, c, st, country, mnemonic)
	if h == nil {
		return code
	}
	shown := h.Rights
	if set != "" || clear {
		list, err := cliOps(c, st).SetHolderRights(ctx, cliActor(), h.ID, listFlag(set))
		if err != nil {
			fmt.Fprintf(c.stderr, "eacgate holder rights: %s\n", errText(err))
			return 1
		}
		shown = strings.Join(list, ",")
	}
	if shown == "" {
		shown = "the issuer's"
	}
	fmt.Fprintf(c.stdout, "%s%s certificates may grant: %s\n", h.Country, h.Mnemonic, shown)
	return 0
}
