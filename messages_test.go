package magiclink

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/magiclink-go/magiclink/internal/i18n"
)

// TestMessageKeysExist reads the package's source for the catalogue keys
// its code names — error messages (newError and the helpers around it)
// and the words of pages (T) — and checks that the English catalogue
// has each, so that no person ever sees a key instead of a sentence. A
// key built at run time ("done." + kind) must match some key by its
// constant parts.
func TestMessageKeysExist(t *testing.T) {
	keys := i18n.Default().Keys()
	has := func(prefix, suffix string) bool {
		return slices.ContainsFunc(keys, func(k string) bool {
			return strings.HasPrefix(k, prefix) && strings.HasSuffix(k, suffix) && len(k) > len(prefix)+len(suffix)-1
		})
	}
	// Which argument of which function is a key, and under which prefix.
	type keyArg struct {
		arg    int
		prefix string
	}
	funcs := map[string][]keyArg{
		"newError":       {{3, "error.message."}, {4, "error.long."}},
		"ticketError":    {{2, "error.message."}, {3, "error.long."}},
		"paramError":     {{1, "error.message."}, {3, "error.long."}},
		"paramInvalid":   {{1, "error.long."}},
		"paramValue":     {{1, "error.long."}},
		"paramsConflict": {{0, "error.long."}},
		"flowConflict":   {{0, "error.long."}},
		"malformed":      {{0, "error.long."}},
		"notFound":       {{0, "error.long.not_found."}},
		"T":              {{0, ""}},
		"t":              {{0, ""}},
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var fn string
			switch f := call.Fun.(type) {
			case *ast.Ident:
				fn = f.Name
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			}
			for _, ka := range funcs[fn] {
				if ka.arg >= len(call.Args) {
					continue
				}
				pos := fset.Position(call.Args[ka.arg].Pos())
				parts := constParts(call.Args[ka.arg])
				if parts == nil {
					if _, sum := call.Args[ka.arg].(*ast.BinaryExpr); sum {
						t.Errorf("%s: a key that does not start with a constant: an English sentence?", pos)
					}
					continue // a variable: checked where its value is written
				}
				if fn == "notFound" {
					parts[0] = strings.ReplaceAll(parts[0], " ", "_")
				}
				prefix := ka.prefix + parts[0]
				if (fn == "T" || fn == "t") && !strings.HasPrefix(prefix, "page.") && !strings.HasPrefix(prefix, "email.") && !strings.HasPrefix(prefix, "error.") {
					continue
				}
				checked++
				if len(parts) == 1 {
					if !slices.Contains(keys, prefix) {
						t.Errorf("%s: the catalogue has no %q", pos, prefix)
					}
				} else if !has(prefix, parts[len(parts)-1]) {
					t.Errorf("%s: the catalogue has no key like %q…%q", pos, prefix, parts[len(parts)-1])
				}
			}
			return true
		})
	}
	if checked < 50 {
		t.Errorf("only %d keys found in the source: is the scan broken?", checked)
	}
}

// constParts returns the string constants of e: one for a literal, the
// first and last for a concatenation that starts with one ("done." +
// kind → "done.", ""), nil for anything else.
func constParts(e ast.Expr) []string {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return nil
		}
		s, err := strconv.Unquote(e.Value)
		if err != nil {
			return nil
		}
		return []string{s}
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return nil
		}
		left := constParts(e.X)
		if left == nil {
			return nil
		}
		last := ""
		if r := constParts(e.Y); r != nil {
			last = r[len(r)-1]
		}
		return []string{left[0], last}
	}
	return nil
}
