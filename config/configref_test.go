package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// The README's configuration reference promises every option: each YAML key of Config,
// down through its nested structures, appears in it.
func TestConfigReferenceHasEveryOption(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start = "# eacgate.yaml — every option"
	i := strings.Index(string(readme), start)
	if i < 0 {
		t.Fatal("README: configuration reference not found")
	}
	ref := string(readme[i:])
	ref = ref[:strings.Index(ref, "```")]
	seen := map[reflect.Type]bool{}
	var walk func(path string, ty reflect.Type)
	walk = func(path string, ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] {
			return
		}
		seen[ty] = true
		for f := range ty.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !strings.Contains(ref, name+":") {
				t.Errorf("README configuration reference lacks %s%s", path, name)
			}
			walk(path+name+".", f.Type)
		}
	}
	walk("", reflect.TypeFor[Config]())
	if len(seen) < 5 {
		t.Fatalf("only %d configuration structures walked", len(seen))
	}
}
