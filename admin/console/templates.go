package console

import (
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"strings"
	"time"

	"eacgate/store"
)

// The templates: layout.html holds the frame (head, navigation, messages) and the shared
// partials; every other file of templates/ is one page, defining "content". Each page is
// parsed with the layout once, at start.
func (h *Handler) parseTemplates() error {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return fmt.Errorf("console: templates: %w", err)
	}
	h.pages = map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := base.Clone()
		if err == nil {
			t, err = t.ParseFS(templateFS, f)
		}
		if err != nil {
			return fmt.Errorf("console: template %s: %w", f, err)
		}
		h.pages[name] = t
	}
	return nil
}

var funcs = template.FuncMap{
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02")
	},
	"datetime": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	"datetimep": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
	},
	// daysLeft is the number of whole days from now until t (negative: past).
	"daysLeft":   func(now, t time.Time) int { return int(t.Sub(now).Hours() / 24) },
	"roleName":   func(r store.OperatorRole) string { return roleName(r) },
	"holderRole": func(r store.Role) string { return holderRoleName(r) },
	"add":        func(a, b int) int { return a + b },
	"pathEscape": pathEscape,
}

// holderRoleName is a holder's or certificate's role in words.
func holderRoleName(r store.Role) string {
	switch r {
	case store.RoleCVCA:
		return "CVCA"
	case store.RoleDVDomestic:
		return "DV (official domestic)"
	case store.RoleDVForeign:
		return "DV (official foreign)"
	case store.RoleTerminal:
		return "Inspection system"
	case store.RoleSPOC:
		return "SPOC"
	}
	return string(r)
}
