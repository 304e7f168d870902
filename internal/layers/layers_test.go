package layers

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// layer ranks every package of the module: a package may import only packages of a lower
// layer. The order follows one message: cmd -> gateway (wiring) -> the roles' adapters ->
// the registration authority -> trust -> SOAP -> the CA core and persistence -> formats.
var layer = map[string]int{
	"ecc": 0, "wsdl": 0, "wsdl/soapenc": 0, "generated": 0,
	"internal/testenv": 0, "internal/pgtest": 0, "internal/e2e": 0, "internal/layers": 0,
	"hsm/softhsmtest": 0, "tools/wsdlgen": 0,
	"cvc":       1,
	"authority": 2, "store": 2, "hsm": 2, "internal/openpace": 2,
	"msg": 3, "internal/catest": 3, "auditlog": 3,
	"generated/cvca10": 4, "generated/cvca11": 4, "generated/dv10": 4, "generated/dv11": 4, "generated/spoc": 4,
	"server":   5,
	"trust":    6,
	"ra":       7,
	"callback": 8, "ops": 8, "cvca": 8,
	"spoc":     9,
	"dvclient": 10, "admin": 10, "admin/console": 10,
	"config":      11,
	"gateway":     12,
	"cmd/eacgate": 13, "cmd/eacgate-load": 13,
	"examples/go/eacclient": 13, "examples/go/dv": 14, "examples/go/terminal": 14,
}

// onlyThrough names packages whose importers are limited: the registration authority is
// reached by the roles that take requests (callback processes queued ones, spoc forwards
// them) and by the wiring, never by the operator adapters, which go through ops.
var onlyThrough = map[string][]string{
	"ra":    {"callback", "spoc", "dvclient", "config", "gateway", "cmd/eacgate", "cmd/eacgate-load"},
	"store": {"auditlog", "trust", "ra", "callback", "ops", "cvca", "spoc", "dvclient", "admin", "admin/console", "config", "gateway", "cmd/eacgate", "cmd/eacgate-load"},
}

func TestImportsGoDownwards(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "eacgate/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for line := range strings.SplitSeq(string(bytes.TrimSpace(out)), "\n") {
		fields := strings.Fields(line)
		pkg, ok := strings.CutPrefix(fields[0], "eacgate/")
		if !ok {
			continue
		}
		rank, known := layer[pkg]
		if !known {
			t.Errorf("%s: not in the layer table (internal/layers): place it and say why in ARCHITECTURE.md", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, "eacgate/")
			if !ours {
				continue
			}
			depRank, known := layer[dep]
			if !known {
				continue // reported as a package of its own
			}
			if depRank >= rank {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports go to lower layers only", pkg, rank, dep, depRank)
			}
			if allowed, limited := onlyThrough[dep]; limited && !slices.Contains(allowed, pkg) {
				t.Errorf("%s imports %s, which only %v may import", pkg, dep, allowed)
			}
		}
	}
}
