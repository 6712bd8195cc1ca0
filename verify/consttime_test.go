package verify_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestConstantTimeComparisons reads the source of package verify (its
// non-test files) and fails on a comparison of a MAC, signature, digest,
// token or key that is not constant-time: such a comparison tells a forger,
// through its timing, how many leading bytes of a guess are right. Secrets
// are compared with hmac.Equal or subtle.ConstantTimeCompare; see
// checkConstantTime for the exact rule.
func TestConstantTimeComparisons(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var parsed []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name == "verify" {
			parsed = append(parsed, f)
		}
	}
	if !slices.Contains(files, "verify.go") || len(parsed) < 3 {
		t.Fatalf("read %d files of package verify from %v; run in the verify directory", len(parsed), files)
	}
	findings, constantTime := checkConstantTime(fset, parsed)
	for _, f := range findings {
		t.Error(f)
	}
	// The rule must have something to see: the v1 check compares MACs.
	if constantTime == 0 {
		t.Error("no call to hmac.Equal or subtle.ConstantTimeCompare in package verify: the MAC comparison is gone or the check cannot see it")
	}
}

// TestConstantTimeChecker runs the checker on snippets it must flag and on
// snippets it must let pass.
func TestConstantTimeChecker(t *testing.T) {
	const header = "package p\n\nimport (\n\tb \"bytes\"\n\t\"crypto/hmac\"\n\t\"crypto/subtle\"\n\t\"strings\"\n)\n\nconst (\n\tMaxSignatureTokens = 20\n\ttokV1a = 2\n)\n\n"
	flagged := map[string]string{
		"bytes.Equal, package renamed":  `func f(sum, want []byte) bool { return b.Equal(sum, want) }`,
		"bytes.Compare on any operands": `func f(x, y []byte) bool { return b.Compare(x, y) == 0 }`,
		"== on a converted MAC":         `func f(mac []byte, got string) bool { return string(mac) == got }`,
		"!= on an indexed signature":    `func f(c *check, j int, s [32]byte) bool { return c.v1Sigs[j] != s }`,
		"== on a method's digest":       `func f(c *check, s string) bool { return c.digest() == s }`,
		"== on an encoded sum":          `func f(sum [32]byte, got string) bool { return hexEncode(sum[:]) == got }`,
		"== on a token":                 `func f(tok, want string) bool { return want == tok }`,
		"switch on a key":               "func f(key, a string) int {\n\tswitch key {\n\tcase a:\n\t\treturn 1\n\t}\n\treturn 0\n}",
		"strings.EqualFold on a secret": `func f(secret, s string) bool { return strings.EqualFold(secret, s) }`,
	}
	passing := map[string]string{
		"hmac.Equal":                           `func f(sum, want []byte) bool { return hmac.Equal(sum, want) }`,
		"subtle.ConstantTimeCompare":           `func f(sig, want []byte) bool { return subtle.ConstantTimeCompare(sig, want) == 1 }`,
		"against nil, empty and len":           `func f(key []byte, sig string) bool { return key == nil || sig == "" || len(sig) != 64 }`,
		"against a constant":                   `func f(sh *sigHeader) bool { return sh.ntoks == MaxSignatureTokens }`,
		"a token's kind":                       `func f(tok token) bool { return tok.kind != tokV1a }`,
		"a key id":                             `func f(k *jwk, keyID string) bool { return k.Kid == keyID }`,
		"names that only contain words":        `func f(signer, assumed, bodySigned string) bool { return signer == assumed || bodySigned == assumed }`,
		"bytes functions that compare nothing": `func f(hb []byte) bool { return b.HasPrefix(b.TrimSpace(hb), []byte("{")) }`,
	}
	check := func(name, src string) ([]string, int) {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "snippet.go", header+src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return checkConstantTime(fset, []*ast.File{f})
	}
	for name, src := range flagged {
		if got, _ := check(name, src); len(got) != 1 {
			t.Errorf("%s: %d findings %q, want 1 in\n%s", name, len(got), got, src)
		}
	}
	for name, src := range passing {
		if got, _ := check(name, src); len(got) != 0 {
			t.Errorf("%s: findings %q, want none in\n%s", name, got, src)
		}
	}
	if _, n := check("count", passing["hmac.Equal"]+"\n"+passing["subtle.ConstantTimeCompare"]); n != 2 {
		t.Errorf("counted %d constant-time calls, want 2", n)
	}
}

// checkConstantTime returns the comparisons in files that are not
// constant-time but may compare secrets, as "file:line: what", and the
// number of calls to hmac.Equal and subtle.ConstantTimeCompare. The rule:
//
//   - every call of bytes.Equal, bytes.Compare or bytes.EqualFold is
//     flagged, whatever it compares (this package compares bytes only to
//     check MACs);
//   - ==, != and switch cases, and calls of strings.Compare,
//     strings.EqualFold, slices.Equal, slices.Compare and reflect.DeepEqual,
//     are flagged when an operand names a secret and no operand is a
//     constant. A constant is a literal, nil, true, false, a constant
//     declared in the files, len or cap of anything, or an expression of
//     those: comparing with one leaks nothing secret.
//
// An operand names a secret when its name does (see secretName): the
// identifier, or the last selector (c.v1Sigs[j] is v1Sigs, tok.kind is
// kind), or for a call the function's name or any argument's (string(mac)
// and hex.EncodeToString(sum) are secrets).
func checkConstantTime(fset *token.FileSet, files []*ast.File) (findings []string, constantTime int) {
	consts := map[string]bool{"nil": true, "true": true, "false": true, "iota": true}
	for _, f := range files {
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, s := range g.Specs {
					for _, n := range s.(*ast.ValueSpec).Names {
						consts[n.Name] = true
					}
				}
			}
		}
	}
	for _, f := range files {
		pkgs := map[string]string{} // local name → import path
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			local := path[strings.LastIndex(path, "/")+1:]
			if imp.Name != nil {
				local = imp.Name.Name
			}
			pkgs[local] = path
		}
		flag := func(n ast.Node, what string) {
			findings = append(findings, fset.Position(n.Pos()).String()+": "+what+": compare secrets with hmac.Equal or subtle.ConstantTimeCompare")
		}
		// leaky reports whether comparing these operands may leak a secret.
		leaky := func(operands ...ast.Expr) bool {
			return !slices.ContainsFunc(operands, func(e ast.Expr) bool { return isConstant(e, consts) }) &&
				slices.ContainsFunc(operands, func(e ast.Expr) bool { return slices.ContainsFunc(operandNames(e), secretName) })
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					break
				}
				pkg, ok := sel.X.(*ast.Ident)
				if !ok || pkgs[pkg.Name] == "" {
					break
				}
				switch fn := pkgs[pkg.Name] + "." + sel.Sel.Name; fn {
				case "crypto/hmac.Equal", "crypto/subtle.ConstantTimeCompare":
					constantTime++
				case "bytes.Equal", "bytes.Compare", "bytes.EqualFold":
					flag(n, fn)
				case "strings.Compare", "strings.EqualFold", "slices.Equal", "slices.Compare", "reflect.DeepEqual":
					if leaky(n.Args...) {
						flag(n, fn+" of a secret")
					}
				}
			case *ast.BinaryExpr:
				if (n.Op == token.EQL || n.Op == token.NEQ) && leaky(n.X, n.Y) {
					flag(n, n.Op.String()+" on a secret")
				}
			case *ast.SwitchStmt:
				if n.Tag == nil {
					break
				}
				for _, s := range n.Body.List {
					for _, e := range s.(*ast.CaseClause).List {
						if leaky(n.Tag, e) {
							flag(e, "switch case on a secret")
						}
					}
				}
			}
			return true
		})
	}
	return findings, constantTime
}

// isConstant reports whether e leaks nothing when compared: a literal, a
// name in consts, len or cap of anything, or an expression of those.
func isConstant(e ast.Expr, consts map[string]bool) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return consts[e.Name]
	case *ast.ParenExpr:
		return isConstant(e.X, consts)
	case *ast.UnaryExpr:
		return isConstant(e.X, consts)
	case *ast.BinaryExpr:
		return isConstant(e.X, consts) && isConstant(e.Y, consts)
	case *ast.CallExpr:
		if id, ok := e.Fun.(*ast.Ident); ok && (id.Name == "len" || id.Name == "cap") {
			return true
		}
		return isConversion(e.Fun) && len(e.Args) == 1 && isConstant(e.Args[0], consts)
	}
	return false
}

// operandNames returns the names that say what e holds: an identifier, the
// last selector, the operand of an index, slice, dereference or type
// assertion, both sides of a binary expression, and for a call the
// function's name (not a conversion's) and its arguments' names.
func operandNames(e ast.Expr) []string {
	switch e := e.(type) {
	case *ast.Ident:
		return []string{e.Name}
	case *ast.SelectorExpr:
		return []string{e.Sel.Name}
	case *ast.IndexExpr:
		return operandNames(e.X)
	case *ast.SliceExpr:
		return operandNames(e.X)
	case *ast.StarExpr:
		return operandNames(e.X)
	case *ast.ParenExpr:
		return operandNames(e.X)
	case *ast.UnaryExpr:
		return operandNames(e.X)
	case *ast.TypeAssertExpr:
		return operandNames(e.X)
	case *ast.BinaryExpr:
		return append(operandNames(e.X), operandNames(e.Y)...)
	case *ast.CallExpr:
		var names []string
		if !isConversion(e.Fun) {
			names = operandNames(e.Fun)
		}
		for _, a := range e.Args {
			names = append(names, operandNames(a)...)
		}
		return names
	}
	return nil
}

// isConversion reports whether fun is a conversion to a string, byte or
// rune type (string(sum), []byte(tok)).
func isConversion(fun ast.Expr) bool {
	switch fun := fun.(type) {
	case *ast.ArrayType:
		return true
	case *ast.ParenExpr:
		return isConversion(fun.X)
	case *ast.Ident:
		return fun.Name == "string" || fun.Name == "byte" || fun.Name == "rune"
	}
	return false
}

// secretWords are the words of a name that mean it holds secret material
// or a value derived from it.
var secretWords = []string{
	"sum", "sums", "mac", "macs", "hmac", "sig", "sigs", "signature", "signatures",
	"digest", "digests", "hash", "hashes", "token", "tokens", "tok", "toks",
	"key", "keys", "secret", "secrets",
}

// qualifierWords end a name that holds a fact about a secret, not the
// secret: keyID, sigKind, tokenCount, MaxSignatureTokens' n.
var qualifierWords = []string{
	"id", "ids", "kid", "kind", "kinds", "type", "version", "scheme", "name", "names",
	"n", "len", "length", "size", "count", "index", "idx", "i", "j", "max", "min", "limit",
	"err", "error", "ok", "url", "uri",
}

// secretName reports whether a Go name holds a secret: one of its words
// (split at case changes, digits and underscores: v1Sigs is v, 1, sigs) is
// a secret word, and its last word is not a qualifier. Whole words only:
// signer, assumed and bodySigned name no secret.
func secretName(name string) bool {
	words := nameWords(name)
	return len(words) > 0 && !slices.Contains(qualifierWords, words[len(words)-1]) &&
		slices.ContainsFunc(words, func(w string) bool { return slices.Contains(secretWords, w) })
}

// nameWords splits a Go name into lower-case words: "v1Sigs" is v, 1, sigs;
// "HMACKey" is hmac, key; "max_sig" is max, sig.
func nameWords(name string) []string {
	var words []string
	r := []rune(name)
	start := 0
	for i := 1; i <= len(r); i++ {
		if i < len(r) {
			prev, cur := r[i-1], r[i]
			next := rune(0)
			if i+1 < len(r) {
				next = r[i+1]
			}
			boundary := cur == '_' || prev == '_' ||
				unicode.IsDigit(prev) != unicode.IsDigit(cur) ||
				unicode.IsLower(prev) && unicode.IsUpper(cur) ||
				unicode.IsUpper(prev) && unicode.IsUpper(cur) && unicode.IsLower(next)
			if !boundary {
				continue
			}
		}
		if w := strings.Trim(string(r[start:i]), "_"); w != "" {
			words = append(words, strings.ToLower(w))
		}
		start = i
	}
	return words
}
