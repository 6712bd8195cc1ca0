package terraform_test

import (
	"bytes"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// module is a Terraform root module read with hclsyntax: its files and
// top-level declarations, keyed the way expressions refer to them.
type module struct {
	src       map[string][]byte // file name -> source
	bodies    map[string]*hclsyntax.Body
	variables map[string]*hclsyntax.Block     // "name"
	locals    map[string]*hclsyntax.Attribute // "name"
	resources map[string]*hclsyntax.Block     // "type.name"
	data      map[string]*hclsyntax.Block     // "type.name"
	modules   map[string]*hclsyntax.Block     // "name"
	outputs   map[string]*hclsyntax.Block     // "name"
	providers []*hclsyntax.Block              // provider blocks
	moved     []*hclsyntax.Block              // moved blocks
	dupes     []string
}

// loadDir parses every *.tf file of dir.
func loadDir(dir string) (*module, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no .tf files in %s", dir)
	}
	files := make(map[string]string, len(names))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		files[filepath.Base(name)] = string(b)
	}
	return parseModule(files)
}

// parseModule parses the given files (name -> source) as one module.
func parseModule(files map[string]string) (*module, error) {
	m := &module{
		src:       map[string][]byte{},
		bodies:    map[string]*hclsyntax.Body{},
		variables: map[string]*hclsyntax.Block{},
		locals:    map[string]*hclsyntax.Attribute{},
		resources: map[string]*hclsyntax.Block{},
		data:      map[string]*hclsyntax.Block{},
		modules:   map[string]*hclsyntax.Block{},
		outputs:   map[string]*hclsyntax.Block{},
	}
	p := hclparse.NewParser()
	var diags hcl.Diagnostics
	for _, name := range sortedKeys(files) {
		f, d := p.ParseHCL([]byte(files[name]), name)
		diags = append(diags, d...)
		if f == nil {
			continue
		}
		body := f.Body.(*hclsyntax.Body)
		m.src[name] = f.Bytes
		m.bodies[name] = body
		for _, b := range body.Blocks {
			key := strings.Join(b.Labels, ".")
			var into map[string]*hclsyntax.Block
			switch b.Type {
			case "variable":
				into = m.variables
			case "resource":
				into = m.resources
			case "data":
				into = m.data
			case "module":
				into = m.modules
			case "output":
				into = m.outputs
			case "provider":
				m.providers = append(m.providers, b)
			case "moved":
				m.moved = append(m.moved, b)
			case "locals":
				for name, a := range b.Body.Attributes {
					if _, dup := m.locals[name]; dup {
						m.dupes = append(m.dupes, "local."+name)
					}
					m.locals[name] = a
				}
			}
			if into != nil {
				if _, dup := into[key]; dup {
					m.dupes = append(m.dupes, b.Type+" "+key)
				}
				into[key] = b
			}
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return m, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// unformatted lists the files that hclwrite.Format (terraform fmt's
// formatter) would change.
func unformatted(files map[string][]byte) []string {
	var bad []string
	for _, name := range sortedKeys(files) {
		if !bytes.Equal(hclwrite.Format(files[name]), files[name]) {
			bad = append(bad, name)
		}
	}
	return bad
}

// Roots of references that need no declaration.
var builtinRoots = map[string]bool{"each": true, "count": true, "self": true, "path": true, "terraform": true}

// referenceProblems walks every expression of the module and reports
// references to undeclared variables, locals, resources, data sources and
// modules, declared variables and locals that nothing uses, and duplicate
// declarations.
func referenceProblems(m *module) []string {
	problems := append([]string(nil), m.dupes...)
	usedVars := map[string]bool{}
	usedLocals := map[string]bool{}
	check := func(where string, tr hcl.Traversal, scope map[string]bool) {
		root := tr.RootName()
		attr := func(i int) string {
			if i < len(tr) {
				if a, ok := tr[i].(hcl.TraverseAttr); ok {
					return a.Name
				}
			}
			return ""
		}
		switch {
		case builtinRoots[root] || scope[root]:
		case root == "var":
			usedVars[attr(1)] = true
			if m.variables[attr(1)] == nil {
				problems = append(problems, fmt.Sprintf("%s: undeclared var.%s", where, attr(1)))
			}
		case root == "local":
			usedLocals[attr(1)] = true
			if m.locals[attr(1)] == nil {
				problems = append(problems, fmt.Sprintf("%s: undeclared local.%s", where, attr(1)))
			}
		case root == "data":
			if key := attr(1) + "." + attr(2); m.data[key] == nil {
				problems = append(problems, fmt.Sprintf("%s: undeclared data.%s", where, key))
			}
		case root == "module":
			if m.modules[attr(1)] == nil {
				problems = append(problems, fmt.Sprintf("%s: undeclared module.%s", where, attr(1)))
			}
		default:
			if key := root + "." + attr(1); m.resources[key] == nil {
				problems = append(problems, fmt.Sprintf("%s: undeclared resource %s", where, key))
			}
		}
	}
	for _, name := range sortedKeys(m.bodies) {
		for _, b := range m.bodies[name].Blocks {
			if b.Type == "terraform" || b.Type == "moved" {
				continue // constraints, backend settings, addresses: no expressions
			}
			where := fmt.Sprintf("%s: %s %s", name, b.Type, strings.Join(b.Labels, "."))
			walkBody(b.Body, b.Type, map[string]bool{}, func(tr hcl.Traversal, scope map[string]bool) {
				check(where, tr, scope)
			})
		}
	}
	for _, name := range sortedKeys(m.variables) {
		if !usedVars[name] {
			problems = append(problems, "variable "+name+" is declared but never used")
		}
	}
	for _, name := range sortedKeys(m.locals) {
		if !usedLocals[name] {
			problems = append(problems, "local."+name+" is declared but never used")
		}
	}
	return problems
}

// walkBody calls visit for every traversal in body's expressions, with the
// names that nested dynamic blocks bring into scope. blockType is the type
// of the block that owns body: it tells which attributes are not
// expressions (a variable's type, lifecycle.ignore_changes, provider).
func walkBody(body *hclsyntax.Body, blockType string, scope map[string]bool, visit func(hcl.Traversal, map[string]bool)) {
	for _, name := range sortedKeys(body.Attributes) {
		a := body.Attributes[name]
		switch {
		case blockType == "variable" && name == "type",
			blockType == "lifecycle" && name == "ignore_changes",
			name == "provider":
			continue
		}
		for _, tr := range a.Expr.Variables() {
			visit(tr, scope)
		}
	}
	for _, b := range body.Blocks {
		inner := scope
		if b.Type == "dynamic" && len(b.Labels) == 1 {
			iterator := b.Labels[0]
			if it, ok := b.Body.Attributes["iterator"]; ok {
				iterator = hcl.ExprAsKeyword(it.Expr)
			}
			inner = map[string]bool{iterator: true}
			for k := range scope {
				inner[k] = true
			}
			if fe, ok := b.Body.Attributes["for_each"]; ok {
				for _, tr := range fe.Expr.Variables() {
					visit(tr, scope)
				}
			}
			for _, cb := range b.Body.Blocks {
				if cb.Type == "content" {
					walkBody(cb.Body, b.Labels[0], inner, visit)
				}
			}
			continue
		}
		walkBody(b.Body, b.Type, inner, visit)
	}
}

// Variable rules of this project: every variable has a description, a type,
// and a default or a validation.
func variableProblems(m *module) []string {
	var problems []string
	for _, name := range sortedKeys(m.variables) {
		body := m.variables[name].Body
		if d, ok := literalString(body.Attributes["description"]); !ok || strings.TrimSpace(d) == "" {
			problems = append(problems, "variable "+name+" has no description")
		}
		if body.Attributes["type"] == nil {
			problems = append(problems, "variable "+name+" has no type")
		}
		hasValidation := false
		for _, b := range body.Blocks {
			hasValidation = hasValidation || b.Type == "validation"
		}
		if body.Attributes["default"] == nil && !hasValidation {
			problems = append(problems, "variable "+name+" has neither a default nor a validation")
		}
	}
	return problems
}

var (
	basicRole     = regexp.MustCompile(`^roles/(owner|editor|viewer)$`)
	basicRoleText = regexp.MustCompile(`"roles/(owner|editor|viewer)"`)
	publicMembers = map[string]bool{"allUsers": true, "allAuthenticatedUsers": true}
)

// deployerAdminRoles are the admin roles the Cloud Build deploy account
// (google_service_account.ci_deploy, which applies this module) may hold on
// the project: each manages resources the module creates, and creation is
// a project permission. No other identity may hold an admin role on the
// project, and the deployer no other; projectIamAdmin only under a
// condition that limits the roles it can grant
// (iam.googleapis.com/modifiedGrantsByRole).
var deployerAdminRoles = map[string]bool{
	"roles/serviceusage.serviceUsageAdmin":  true,
	"roles/iam.serviceAccountAdmin":         true,
	"roles/resourcemanager.projectIamAdmin": true,
	"roles/run.admin":                       true,
	"roles/storage.admin":                   true,
	"roles/artifactregistry.admin":          true,
	"roles/pubsub.admin":                    true,
	"roles/secretmanager.admin":             true,
	"roles/cloudscheduler.admin":            true,
}

// iamProblems enforces least privilege on every IAM resource: additive
// *_iam_member grants only (no authoritative *_iam_binding or *_iam_policy
// that would strip other principals), a literal role (or each.key/each.value
// over literal roles) so that the rule cannot be dodged through a variable,
// no basic role anywhere, no admin role on a project, folder or
// organization (the deploy account's deployerAdminRoles excepted), no
// storage role on one without an IAM condition (it would reach every
// bucket), public members only as Cloud Run invokers, and no service
// account keys.
func iamProblems(m *module) []string {
	var problems []string
	for _, key := range sortedKeys(m.resources) {
		typ := strings.SplitN(key, ".", 2)[0]
		body := m.resources[key].Body
		switch {
		case typ == "google_service_account_key":
			problems = append(problems, key+": service account keys are not allowed")
		case strings.HasSuffix(typ, "_iam_policy"), strings.HasSuffix(typ, "_iam_binding"):
			problems = append(problems, key+": authoritative IAM; use an additive _iam_member")
		case strings.HasSuffix(typ, "_iam_member"):
			roles, ok := m.possibleRoles(body)
			if !ok {
				problems = append(problems, key+": role must be a literal string, or each.key/each.value of a for_each over literal roles")
				continue
			}
			projectWide := strings.HasPrefix(typ, "google_project_") || strings.HasPrefix(typ, "google_folder_") || strings.HasPrefix(typ, "google_organization_")
			deployer := body.Attributes["member"] != nil && (refersTo(body.Attributes["member"].Expr, "local", "ci_deploy_member") || refersTo(body.Attributes["member"].Expr, "google_service_account", "ci_deploy"))
			for _, role := range roles {
				if basicRole.MatchString(role) {
					problems = append(problems, key+": basic role "+role)
				}
				if projectWide && strings.Contains(strings.ToLower(role), "admin") && !(deployer && deployerAdminRoles[role]) {
					problems = append(problems, key+": admin role "+role+" on a whole project")
				}
				if projectWide && role == "roles/resourcemanager.projectIamAdmin" {
					if c := block(body, "condition"); c == nil || !strings.Contains(exprText(m, c.Attributes["expression"]), "modifiedGrantsByRole") {
						problems = append(problems, key+": "+role+" without a condition on iam.googleapis.com/modifiedGrantsByRole (it could grant any role)")
					}
				}
				if projectWide && strings.HasPrefix(role, "roles/storage.") && block(body, "condition") == nil {
					problems = append(problems, key+": storage role "+role+" on a whole project without an IAM condition (every bucket)")
				}
				if member, ok := literalString(body.Attributes["member"]); ok && publicMembers[member] {
					if typ != "google_cloud_run_v2_service_iam_member" || role != "roles/run.invoker" {
						problems = append(problems, key+": "+member+" may only be a Cloud Run invoker")
					}
				}
			}
		}
	}
	for _, name := range sortedKeys(m.src) {
		if loc := basicRoleText.FindIndex(m.src[name]); loc != nil {
			problems = append(problems, fmt.Sprintf("%s: basic role %s in the text", name, m.src[name][loc[0]:loc[1]]))
		}
	}
	return problems
}

// possibleRoles lists the roles an IAM member resource can grant: its
// literal role, or, for role = each.key or each.value, every "roles/..."
// string literal of its for_each expression and of the locals that
// expression uses. ok is false for any other role expression.
func (m *module) possibleRoles(body *hclsyntax.Body) ([]string, bool) {
	a := body.Attributes["role"]
	if role, ok := literalString(a); ok {
		return []string{role}, true
	}
	if a == nil || body.Attributes["for_each"] == nil {
		return nil, false
	}
	tr, diags := hcl.AbsTraversalForExpr(a.Expr)
	if diags.HasErrors() || len(tr) != 2 || tr.RootName() != "each" {
		return nil, false
	}
	var roles []string
	bad := false
	seen := map[string]bool{}
	var walk func(hclsyntax.Expression)
	walk = func(e hclsyntax.Expression) {
		hclsyntax.VisitAll(e, func(n hclsyntax.Node) hcl.Diagnostics {
			switch n := n.(type) {
			case *hclsyntax.TemplateExpr:
				v, diags := n.Value(nil)
				switch {
				case !diags.HasErrors() && v.Type() == cty.String && strings.HasPrefix(v.AsString(), "roles/"):
					roles = append(roles, v.AsString())
				case diags.HasErrors() && len(n.Parts) > 0:
					// A role built from something else: not checkable.
					if lit, ok := n.Parts[0].(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String && strings.HasPrefix(lit.Val.AsString(), "roles/") {
						bad = true
					}
				}
			case *hclsyntax.ScopeTraversalExpr:
				if n.Traversal.RootName() == "local" && len(n.Traversal) > 1 {
					if name := n.Traversal[1].(hcl.TraverseAttr).Name; !seen[name] && m.locals[name] != nil {
						seen[name] = true
						walk(m.locals[name].Expr)
					}
				}
			}
			return nil
		})
	}
	walk(body.Attributes["for_each"].Expr)
	return roles, len(roles) > 0 && !bad
}

// exprText is the source text of an attribute's expression.
func exprText(m *module, a *hclsyntax.Attribute) string {
	if a == nil {
		return ""
	}
	r := a.Expr.Range()
	if src, ok := m.src[r.Filename]; ok {
		return string(src[r.Start.Byte:r.End.Byte])
	}
	return ""
}

// secretProblems reports anything that would put a secret value into the
// configuration or its state: a secret version resource, a secret_data
// attribute, a whsec_ literal.
func secretProblems(m *module) []string {
	var problems []string
	for _, key := range sortedKeys(m.resources) {
		if strings.HasPrefix(key, "google_secret_manager_secret_version.") {
			problems = append(problems, key+": secret versions hold values; the secret is created empty")
		}
	}
	for _, name := range sortedKeys(m.bodies) {
		walkAttributes(m.bodies[name], func(a *hclsyntax.Attribute) {
			if strings.HasPrefix(a.Name, "secret_data") {
				problems = append(problems, fmt.Sprintf("%s:%d: attribute %s", name, a.SrcRange.Start.Line, a.Name))
			}
		})
		if bytes.Contains(m.src[name], []byte("whsec_")) {
			problems = append(problems, name+": whsec_ literal")
		}
	}
	return problems
}

func walkAttributes(body *hclsyntax.Body, visit func(*hclsyntax.Attribute)) {
	for _, name := range sortedKeys(body.Attributes) {
		visit(body.Attributes[name])
	}
	for _, b := range body.Blocks {
		walkAttributes(b.Body, visit)
	}
}

// literalString is the value of an attribute that is a constant string.
func literalString(a *hclsyntax.Attribute) (string, bool) {
	if a == nil {
		return "", false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

// block returns the first nested block of the given type.
func block(body *hclsyntax.Body, typ string) *hclsyntax.Body {
	for _, b := range body.Blocks {
		if b.Type == typ {
			return b.Body
		}
	}
	return nil
}

// resolveLocal follows a bare local.name reference to the local's own
// expression, so that tests can inspect what an attribute is built from.
func (m *module) resolveLocal(expr hclsyntax.Expression) hclsyntax.Expression {
	if st, ok := expr.(*hclsyntax.ScopeTraversalExpr); ok && st.Traversal.RootName() == "local" && len(st.Traversal) == 2 {
		if a, ok := st.Traversal[1].(hcl.TraverseAttr); ok && m.locals[a.Name] != nil {
			return m.resolveLocal(m.locals[a.Name].Expr)
		}
	}
	return expr
}

// objectKeys lists the keys of an object constructor expression.
func objectKeys(expr hclsyntax.Expression) (map[string]hclsyntax.Expression, error) {
	obj, ok := expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil, fmt.Errorf("%s: not an object constructor but %T", expr.Range(), expr)
	}
	keys := make(map[string]hclsyntax.Expression, len(obj.Items))
	for _, item := range obj.Items {
		key := hcl.ExprAsKeyword(item.KeyExpr)
		if key == "" {
			v, diags := item.KeyExpr.Value(nil)
			if diags.HasErrors() || v.Type() != cty.String {
				return nil, fmt.Errorf("%s: key is not a constant", item.KeyExpr.Range())
			}
			key = v.AsString()
		}
		keys[key] = item.ValueExpr
	}
	return keys, nil
}

// evalContext evaluates expressions the way Terraform would for the
// variables' defaults, with overrides, plus the given extra root values
// (resource attributes, locals). It offers the few functions the
// configuration's string-building uses.
func (m *module) evalContext(overrides map[string]cty.Value, extra map[string]cty.Value) (*hcl.EvalContext, error) {
	vars := map[string]cty.Value{}
	for name, b := range m.variables {
		if d := b.Body.Attributes["default"]; d != nil {
			v, diags := d.Expr.Value(nil)
			if diags.HasErrors() {
				return nil, fmt.Errorf("default of %s: %v", name, diags)
			}
			vars[name] = v
		}
	}
	for k, v := range overrides {
		vars[k] = v
	}
	// Each value as Terraform passes it: converted to the variable's type,
	// with the defaults of optional object attributes filled in.
	for name, v := range vars {
		b := m.variables[name]
		if b == nil || b.Body.Attributes["type"] == nil {
			continue
		}
		ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(b.Body.Attributes["type"].Expr)
		if diags.HasErrors() {
			return nil, fmt.Errorf("type of %s: %v", name, diags)
		}
		if v.IsNull() {
			vars[name] = cty.NullVal(ty)
			continue
		}
		if defaults != nil {
			v = defaults.Apply(v)
		}
		cv, err := convert.Convert(v, ty)
		if err != nil {
			return nil, fmt.Errorf("value of %s: %v", name, err)
		}
		vars[name] = cv
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)},
		Functions: map[string]function.Function{
			"join":       stdlib.JoinFunc,
			"format":     stdlib.FormatFunc,
			"lower":      stdlib.LowerFunc,
			"tostring":   toStringFunc,
			"toset":      toSetFunc,
			"floor":      stdlib.FloorFunc,
			"jsonencode": stdlib.JSONEncodeFunc,
			"merge":      stdlib.MergeFunc,
			"flatten":    stdlib.FlattenFunc,
			"tonumber":   toNumberFunc,
			"can":        tryfunc.CanFunc,
			"regex":      stdlib.RegexFunc,
			"length":     stdlib.LengthFunc,
			"distinct":   stdlib.DistinctFunc,
			"keys":       stdlib.KeysFunc,
			"values":     stdlib.ValuesFunc,
			"concat":     stdlib.ConcatFunc,
			"contains":   stdlib.ContainsFunc,
			"replace":    stdlib.ReplaceFunc,
			"substr":     stdlib.SubstrFunc,
			"coalesce":   stdlib.CoalesceFunc,
			"alltrue":    allTrueFunc,
			"try":        tryfunc.TryFunc,
			"startswith": startsWithFunc,
			"trimsuffix": stdlib.TrimSuffixFunc,
		},
	}
	for k, v := range extra {
		ctx.Variables[k] = v
	}
	return ctx, nil
}

// evalWithLocals evaluates expr in ctx after evaluating, in dependency
// order, every local it refers to (directly or through other locals).
// Resource attributes the locals need must already be in ctx.
func (m *module) evalWithLocals(expr hclsyntax.Expression, ctx *hcl.EvalContext) (cty.Value, error) {
	locals := map[string]cty.Value{}
	if v, ok := ctx.Variables["local"]; ok {
		locals = v.AsValueMap()
	}
	var need func(hclsyntax.Expression, int) error
	need = func(e hclsyntax.Expression, depth int) error {
		if depth > len(m.locals) {
			return fmt.Errorf("locals refer to each other in a cycle")
		}
		for _, tr := range e.Variables() {
			if tr.RootName() != "local" || len(tr) < 2 {
				continue
			}
			name := tr[1].(hcl.TraverseAttr).Name
			if _, done := locals[name]; done || m.locals[name] == nil {
				continue
			}
			if err := need(m.locals[name].Expr, depth+1); err != nil {
				return err
			}
			ctx.Variables["local"] = cty.ObjectVal(locals)
			v, diags := m.locals[name].Expr.Value(ctx)
			if diags.HasErrors() {
				return fmt.Errorf("local.%s: %v", name, diags)
			}
			locals[name] = v
		}
		return nil
	}
	if err := need(expr, 0); err != nil {
		return cty.NilVal, err
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	return v, nil
}

// stubResources adds to ctx a made-up string for every resource attribute
// that expr, or a local it uses, reads as type.name.attribute, or as
// type.name[index].attribute of a count or for_each resource: enough to
// render strings built from resource names. The string is name-attribute,
// or name-index-attribute.
func (m *module) stubResources(expr hclsyntax.Expression, ctx *hcl.EvalContext) {
	type instances struct {
		plain   map[string]cty.Value            // attribute -> value
		byIndex map[string]map[string]cty.Value // index -> attribute -> value
		numeric bool                            // indexed by number (count)
	}
	stubs := map[string]map[string]*instances{} // type -> name
	seen := map[string]bool{}
	var walk func(hclsyntax.Expression)
	walk = func(e hclsyntax.Expression) {
		for _, tr := range e.Variables() {
			root := tr.RootName()
			if root == "local" && len(tr) > 1 {
				name := tr[1].(hcl.TraverseAttr).Name
				if !seen[name] && m.locals[name] != nil {
					seen[name] = true
					walk(m.locals[name].Expr)
				}
				continue
			}
			if m.resourcesOfType(root) == 0 || len(tr) < 3 {
				continue
			}
			name, ok := tr[1].(hcl.TraverseAttr)
			if !ok {
				continue
			}
			if stubs[root] == nil {
				stubs[root] = map[string]*instances{}
			}
			in := stubs[root][name.Name]
			if in == nil {
				in = &instances{plain: map[string]cty.Value{}, byIndex: map[string]map[string]cty.Value{}}
				stubs[root][name.Name] = in
			}
			switch step := tr[2].(type) {
			case hcl.TraverseAttr:
				in.plain[step.Name] = cty.StringVal(name.Name + "-" + step.Name)
			case hcl.TraverseIndex:
				if len(tr) < 4 {
					continue
				}
				attr, ok := tr[3].(hcl.TraverseAttr)
				if !ok {
					continue
				}
				key, err := convert.Convert(step.Key, cty.String)
				if err != nil || key.IsNull() {
					continue
				}
				in.numeric = step.Key.Type() == cty.Number
				if in.byIndex[key.AsString()] == nil {
					in.byIndex[key.AsString()] = map[string]cty.Value{}
				}
				in.byIndex[key.AsString()][attr.Name] = cty.StringVal(name.Name + "-" + key.AsString() + "-" + attr.Name)
			}
		}
	}
	walk(expr)
	for typ, byName := range stubs {
		objs := map[string]cty.Value{}
		for name, in := range byName {
			switch {
			case len(in.byIndex) == 0:
				objs[name] = cty.ObjectVal(in.plain)
			case in.numeric:
				var elems []cty.Value
				for i := 0; ; i++ {
					attrs, ok := in.byIndex[fmt.Sprint(i)]
					if !ok {
						break
					}
					elems = append(elems, cty.ObjectVal(attrs))
				}
				objs[name] = cty.TupleVal(elems)
			default:
				keyed := map[string]cty.Value{}
				for k, attrs := range in.byIndex {
					keyed[k] = cty.ObjectVal(attrs)
				}
				objs[name] = cty.ObjectVal(keyed)
			}
		}
		ctx.Variables[typ] = cty.ObjectVal(objs)
	}
}

func (m *module) resourcesOfType(typ string) int {
	n := 0
	for key := range m.resources {
		if strings.HasPrefix(key, typ+".") {
			n++
		}
	}
	return n
}

// allTrueFunc is Terraform's alltrue: every element of a list is true.
var allTrueFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for it := args[0].ElementIterator(); it.Next(); {
			if _, v := it.Element(); !v.True() {
				return cty.False, nil
			}
		}
		return cty.True, nil
	},
})

// startsWithFunc is Terraform's startswith.
var startsWithFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "s", Type: cty.String}, {Name: "prefix", Type: cty.String}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return cty.BoolVal(strings.HasPrefix(args[0].AsString(), args[1].AsString())), nil
	},
})

// toStringFunc is Terraform's tostring: a primitive value as a string.
var toStringFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return convert.Convert(args[0], cty.String)
	},
})

// toNumberFunc is Terraform's tonumber: a number, or a string holding one.
var toNumberFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return convert.Convert(args[0], cty.Number)
	},
})

// toSetFunc is Terraform's toset for the string lists of this module.
var toSetFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.Set(cty.String)),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		return convert.Convert(args[0], cty.Set(cty.String))
	},
})

// mustLoad loads the module in the test's directory.
func mustLoad(t *testing.T) *module {
	t.Helper()
	m, err := loadDir(".")
	if err != nil {
		t.Fatalf("loading the Terraform module: %v", err)
	}
	return m
}

// mustResource returns the one resource of the given address.
func mustResource(t *testing.T, m *module, addr string) *hclsyntax.Body {
	t.Helper()
	b := m.resources[addr]
	if b == nil {
		t.Fatalf("resource %s is missing", addr)
	}
	return b.Body
}

// goModVersion is the major.minor of the go directive in the module's
// go.mod ("go 1.26.0" -> "1.26").
func goModVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "go" {
			parts := strings.Split(f[1], ".")
			if len(parts) < 2 {
				t.Fatalf("go.mod: go directive %q has no minor version", f[1])
			}
			return parts[0] + "." + parts[1]
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}

// evalWith evaluates expr (and the locals it uses) with the variables'
// defaults and overrides; resource attributes are stubs, data sources and
// dynamic-block iterators come from extra.
func evalWith(t *testing.T, m *module, expr hclsyntax.Expression, overrides map[string]cty.Value, extra map[string]cty.Value) cty.Value {
	t.Helper()
	ctx, err := m.evalContext(withProject(overrides), nil)
	if err != nil {
		t.Fatal(err)
	}
	m.stubResources(expr, ctx)
	for k, v := range extra {
		ctx.Variables[k] = v
	}
	v, err := m.evalWithLocals(expr, ctx)
	if err != nil {
		t.Fatalf("%s: %v", expr.Range(), err)
	}
	return v
}

// dataStubs are the data source attributes the configuration reads.
var dataStubs = map[string]cty.Value{
	"data": cty.ObjectVal(map[string]cty.Value{
		"google_project": cty.ObjectVal(map[string]cty.Value{
			"this": cty.ObjectVal(map[string]cty.Value{"number": cty.StringVal("123456789012")}),
		}),
	}),
}

// validationAccepts reports whether every validation of variable name
// holds for value.
func validationAccepts(t *testing.T, m *module, name string, value cty.Value) bool {
	t.Helper()
	v := m.variables[name]
	if v == nil {
		t.Fatalf("no variable %s", name)
	}
	ok := true
	for _, b := range v.Body.Blocks {
		if b.Type != "validation" {
			continue
		}
		got := evalWith(t, m, b.Body.Attributes["condition"].Expr, map[string]cty.Value{name: value}, nil)
		ok = ok && got.True()
	}
	return ok
}

// failingPreconditions evaluates the preconditions of a resource and
// returns the error messages of those that fail.
func failingPreconditions(t *testing.T, m *module, addr string, overrides map[string]cty.Value) []string {
	t.Helper()
	lc := block(mustResource(t, m, addr), "lifecycle")
	if lc == nil {
		t.Fatalf("%s has no lifecycle block", addr)
	}
	var failing []string
	for _, b := range lc.Blocks {
		if b.Type != "precondition" {
			continue
		}
		if !evalWith(t, m, b.Body.Attributes["condition"].Expr, overrides, nil).True() {
			msg, _ := literalString(b.Body.Attributes["error_message"])
			failing = append(failing, msg)
		}
	}
	return failing
}

func mustInt(t *testing.T, v cty.Value) int64 {
	t.Helper()
	if v.Type() != cty.Number {
		t.Fatalf("%#v is not a number", v)
	}
	n, acc := v.AsBigFloat().Int64()
	if acc != big.Exact {
		t.Fatalf("%v is not a whole number", v.AsBigFloat())
	}
	return n
}
