package main

import (
	"context"
	"fmt"
	"strings"

	"eacgate/store"
)

// holderCountries shows, sets (--set) or clears (--clear) the foreign countries a domestic
// DV may request certificates from through the SPOC (spoc.foreign_countries: listed).
func holderCountries(ctx context.Context, c cli, st *store.Store, country, mnemonic, set string, clear bool) int {
	if country == "" || mnemonic == "" || (set != "" && clear) {
		fmt.Fprintln(c.stderr, "holder countries needs --country CC --mnemonic M, and at most one of --set ZZ,FR and --clear")
		return 2
	}
	h, code := findHolder(ctx, c, st, country, mnemonic)
	if h == nil {
		return code
	}
	svc := cliOps(c, st)
	var list []string
	var err error
	if set == "" && !clear {
		list, err = svc.HolderForeignCountries(ctx, h.ID)
	} else {
		list, err = svc.SetHolderForeignCountries(ctx, cliActor(), h.ID, listFlag(set))
	}
	if err != nil {
		fmt.Fprintf(c.stderr, "eacgate holder countries: %s\n", errText(err))
		return 1
	}
	shown := strings.Join(list, ",")
	if shown == "" {
		shown = "none"
	}
	fmt.Fprintf(c.stdout, "%s%s may ask foreign certificates of: %s\n", h.Country, h.Mnemonic, shown)
	return 0
}
