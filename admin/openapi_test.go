package admin

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// Every route the handler serves is in the OpenAPI document, with its method, and the
// document describes no route that does not exist.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi.json: %v %q", err, doc.OpenAPI)
	}
	served := map[string]bool{"get /admin/v1/openapi.json": true}
	for _, a := range []string{"suspend", "reinstate", "revoke"} {
		served["post /emCAServices/rest/"+a] = true
	}
	for _, r := range (&Handler{}).routes() {
		method, path, _ := strings.Cut(r.pattern, " ")
		served[strings.ToLower(method)+" "+path] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[method+" "+path] = true
		}
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Fatalf("undocumented routes %v; documented but not served %v", missing, extra)
	}
}
