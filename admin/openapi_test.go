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

// The document says what the guards answer: every admin write may be 403 (cross-site) or 415
// (not JSON) and takes a JSON body; every emCA endpoint may be 503 (password checks busy).
func TestOpenAPIDocumentsGuards(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			RequestBody *struct {
				Content map[string]any `json:"content"`
			} `json:"requestBody"`
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if !isWrite(strings.ToUpper(method)) {
				continue
			}
			want := []string{"503"}
			if strings.HasPrefix(path, "/admin/") {
				want = []string{"403", "415"}
				if op.RequestBody == nil || op.RequestBody.Content["application/json"] == nil {
					t.Errorf("%s %s: no application/json request body", method, path)
				}
			}
			for _, code := range want {
				if op.Responses[code] == nil {
					t.Errorf("%s %s: response %s not documented", method, path, code)
				}
			}
		}
	}
}
