// Package tfcheck reads the Terraform of the examples for their tests,
// offline: every .tf file of a directory parsed with hcl/v2, checked to be
// formatted as terraform fmt writes it, with its resources, data sources
// and variables by name, and helpers to look into a block.
package tfcheck

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Module is the Terraform of one directory.
type Module struct {
	Files     map[string][]byte
	Resources map[string]*hclsyntax.Body // "type.name"
	Data      map[string]*hclsyntax.Body // "type.name"
	Variables map[string]*hclsyntax.Body
	Outputs   map[string]*hclsyntax.Body
}

// Load parses every .tf file of dir; a syntax error or a file terraform
// fmt would change fails the test.
func Load(t testing.TB, dir string) *Module {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no .tf file in %s: %v", dir, err)
	}
	m := &Module{Files: map[string][]byte{}, Resources: map[string]*hclsyntax.Body{}, Data: map[string]*hclsyntax.Body{},
		Variables: map[string]*hclsyntax.Body{}, Outputs: map[string]*hclsyntax.Body{}}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m.Files[filepath.Base(p)] = src
		if !bytes.Equal(hclwrite.Format(src), src) {
			t.Errorf("%s is not formatted as terraform fmt writes it", p)
		}
		f, diags := hclsyntax.ParseConfig(src, p, hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%s: %v", p, diags)
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			key := strings.Join(b.Labels, ".")
			var into map[string]*hclsyntax.Body
			switch b.Type {
			case "resource":
				into = m.Resources
			case "data":
				into = m.Data
			case "variable":
				into = m.Variables
			case "output":
				into = m.Outputs
			default:
				continue
			}
			if into[key] != nil {
				t.Errorf("%s: %s %s declared twice", p, b.Type, key)
			}
			into[key] = b.Body
		}
	}
	return m
}

// Resource returns the body of resource typ.name, failing the test when
// there is none.
func (m *Module) Resource(t testing.TB, typ, name string) *hclsyntax.Body {
	t.Helper()
	b := m.Resources[typ+"."+name]
	if b == nil {
		t.Fatalf("no resource %s.%s", typ, name)
	}
	return b
}

// ResourcesOf returns the names of the resources of type typ, sorted.
func (m *Module) ResourcesOf(typ string) []string {
	var names []string
	for k := range m.Resources {
		if n, ok := strings.CutPrefix(k, typ+"."); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Block returns the first nested block of type typ in b, or nil.
func Block(b *hclsyntax.Body, typ string) *hclsyntax.Body {
	if b == nil {
		return nil
	}
	for _, nb := range b.Blocks {
		if nb.Type == typ {
			return nb.Body
		}
	}
	return nil
}

// Attr returns the expression at path in b: nested block types, then the
// attribute name; nil when absent.
func Attr(b *hclsyntax.Body, path ...string) hclsyntax.Expression {
	for _, p := range path[:len(path)-1] {
		b = Block(b, p)
	}
	if b == nil {
		return nil
	}
	if a := b.Attributes[path[len(path)-1]]; a != nil {
		return a.Expr
	}
	return nil
}

// Literal is the value of an expression without references ("text", 5,
// true), or cty.NilVal when it has references or is nil.
func Literal(e hclsyntax.Expression) cty.Value {
	if e == nil || len(e.Variables()) > 0 {
		return cty.NilVal
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal
	}
	return v
}

// String is the literal string of e, "" when it is not one.
func String(e hclsyntax.Expression) string {
	v := Literal(e)
	if v == cty.NilVal || v.IsNull() || !v.Type().Equals(cty.String) {
		return ""
	}
	return v.AsString()
}

// Refers reports whether e refers to ref, a dotted traversal such as
// "var.topic" or "google_service_account.push.email" (a prefix of a
// longer reference counts).
func Refers(e hclsyntax.Expression, ref string) bool {
	if e == nil {
		return false
	}
	want := strings.Split(ref, ".")
	for _, tr := range e.Variables() {
		got := []string{tr.RootName()}
		for _, step := range tr[1:] {
			if a, ok := step.(hcl.TraverseAttr); ok {
				got = append(got, a.Name)
			}
		}
		if len(got) >= len(want) && slices.Equal(got[:len(want)], want) {
			return true
		}
	}
	return false
}

// Problems lists references that do not resolve: a var.X without a
// variable block, a resource or data source that is not declared.
func (m *Module) Problems() []string {
	var out []string
	seen := map[string]bool{}
	check := func(where string, e hclsyntax.Expression) {
		for _, tr := range e.Variables() {
			root := tr.RootName()
			var name string
			if len(tr) > 1 {
				if a, ok := tr[1].(hcl.TraverseAttr); ok {
					name = a.Name
				}
			}
			var bad string
			switch root {
			case "var":
				if m.Variables[name] == nil {
					bad = "var." + name
				}
			case "data":
				if len(tr) > 2 {
					if a, ok := tr[2].(hcl.TraverseAttr); ok && m.Data[name+"."+a.Name] == nil {
						bad = "data." + name + "." + a.Name
					}
				}
			case "each", "count", "path", "terraform", "self", "local":
			default:
				if strings.Contains(root, "_") && m.Resources[root+"."+name] == nil {
					bad = root + "." + name
				}
			}
			if bad != "" && !seen[where+bad] {
				seen[where+bad] = true
				out = append(out, where+": "+bad+" is not declared")
			}
		}
	}
	var walk func(where string, b *hclsyntax.Body)
	walk = func(where string, b *hclsyntax.Body) {
		for _, a := range b.Attributes {
			check(where, a.Expr)
		}
		for _, nb := range b.Blocks {
			walk(where, nb.Body)
		}
	}
	for _, kind := range []struct {
		prefix string
		m      map[string]*hclsyntax.Body
	}{{"resource ", m.Resources}, {"data ", m.Data}, {"output ", m.Outputs}, {"variable ", m.Variables}} {
		for name, b := range kind.m {
			walk(kind.prefix+name, b)
		}
	}
	slices.Sort(out)
	return out
}
