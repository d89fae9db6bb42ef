package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ote-stack/ote/hub/secrets"
)

// The route table is what the hub serves and what its description says;
// these tests check it against the handlers' code, which the table cannot
// see: the query parameters a handler reads and the body type it decodes.

// handlerFuncs parses the package's code and returns its functions by name.
func handlerFuncs(t *testing.T) map[string]*ast.FuncDecl {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	funcs := map[string]*ast.FuncDecl{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
				funcs[fd.Name.Name] = fd
			}
		}
	}
	return funcs
}

// handlerName is the method a route's Handle names: (*server).listApps is listApps.
func handlerName(r *route) string {
	full := runtime.FuncForPC(reflect.ValueOf(r.Handle).Pointer()).Name()
	return strings.TrimSuffix(full[strings.LastIndex(full, ".")+1:], "-fm")
}

// reads is what a function reads of the request, with the functions it
// hands the request's context c to, transitively: query parameter names
// (c.Query("x"), a helper's literal argument that it passes to c.Query,
// QueryArgs().PeekMulti("x")) and the types of the bodies it decodes.
type reads struct {
	query  map[string]bool
	bodies map[string]bool
}

func readsOf(funcs map[string]*ast.FuncDecl, name string, seen map[string]bool, out *reads) {
	fd := funcs[name]
	if fd == nil || seen[name] {
		return
	}
	seen[name] = true
	vars := map[string]string{} // var req T
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			if id, ok := vs.Type.(*ast.Ident); ok {
				for _, v := range vs.Names {
					vars[v.Name] = id.Name
				}
			}
			if sel, ok := vs.Type.(*ast.SelectorExpr); ok {
				for _, v := range vs.Names {
					vars[v.Name] = sel.Sel.Name
				}
			}
		}
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		var callee string
		switch f := call.Fun.(type) {
		case *ast.SelectorExpr:
			callee = f.Sel.Name
		case *ast.Ident:
			callee = f.Name
		}
		switch {
		case callee == "Query" || callee == "PeekMulti" || queryHelpers[callee]:
			for _, a := range call.Args {
				if lit, ok := a.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					out.query[v] = true
					break
				}
			}
		case callee == "decodeJSON" && len(call.Args) == 2:
			if u, ok := call.Args[1].(*ast.UnaryExpr); ok {
				if id, ok := u.X.(*ast.Ident); ok {
					out.bodies[vars[id.Name]] = true
				}
			}
		}
		if funcs[callee] != nil {
			for _, a := range call.Args {
				if id, ok := a.(*ast.Ident); ok && id.Name == "c" {
					readsOf(funcs, callee, seen, out)
					break
				}
			}
		}
		return true
	})
}

// queryHelpers read the query parameter their literal argument names.
var queryHelpers = map[string]bool{"queryInt": true, "queryUnix": true}

func TestRouteTableMatchesHandlers(t *testing.T) {
	funcs := handlerFuncs(t)
	for i := range apiRoutes {
		r := &apiRoutes[i]
		name := handlerName(r)
		if funcs[name] == nil {
			t.Errorf("%s %s: handler %s not found in the package's code", r.Method, r.Path, name)
			continue
		}
		got := &reads{query: map[string]bool{}, bodies: map[string]bool{}}
		readsOf(funcs, name, map[string]bool{}, got)
		documented := map[string]bool{}
		for _, q := range r.Query {
			documented[q.Name] = true
		}
		var undocumented, unread []string
		for q := range got.query {
			if !documented[q] {
				undocumented = append(undocumented, q)
			}
		}
		for q := range documented {
			if !got.query[q] {
				unread = append(unread, q)
			}
		}
		sort.Strings(undocumented)
		sort.Strings(unread)
		if len(undocumented) > 0 {
			t.Errorf("%s %s: %s reads query parameters the table does not document: %v", r.Method, r.Path, name, undocumented)
		}
		if len(unread) > 0 {
			t.Errorf("%s %s: the table documents query parameters that %s never reads: %v", r.Method, r.Path, name, unread)
		}
		var bodies []string
		for b := range got.bodies {
			bodies = append(bodies, b)
		}
		var want []string
		if r.Body != nil {
			want = []string{reflect.TypeOf(r.Body).Name()}
		}
		sort.Strings(bodies)
		if !slices.Equal(bodies, want) {
			t.Errorf("%s %s: %s decodes bodies %v, the table documents %v", r.Method, r.Path, name, bodies, want)
		}
	}
}

// TestRouteTableIsWhatIsServed: every route fiber serves comes from the
// table (HEAD mirrors GET), and the description has every entry.
func TestRouteTableIsWhatIsServed(t *testing.T) {
	sealer, err := secrets.New([]byte("test-secret-key-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Sealer: sealer})
	if err != nil {
		t.Fatal(err)
	}
	d, err := newOpenAPIDoc(apiRoutes)
	if err != nil {
		t.Fatal(err)
	}
	table := map[string]bool{}
	for _, r := range apiRoutes {
		table[r.Method+" "+r.Path] = true
	}
	served := map[string]bool{}
	for _, fr := range srv.GetRoutes(true) {
		m := fr.Method
		if m == "HEAD" {
			if !table["GET "+fr.Path] {
				t.Errorf("HEAD %s is served without a GET in the table", fr.Path)
			}
			continue
		}
		served[m+" "+fr.Path] = true
		if !table[m+" "+fr.Path] {
			t.Errorf("%s %s is served but not in the route table, so not documented", m, fr.Path)
		}
	}
	for k := range table {
		if !served[k] {
			t.Errorf("%s is in the route table but not served", k)
		}
	}
	doc := d.doc
	ops := 0
	for p, item := range doc.Paths {
		for m := range item {
			ops++
			fp := p
			for strings.Contains(fp, "{") {
				a, b := strings.Index(fp, "{"), strings.Index(fp, "}")
				fp = fp[:a] + ":" + fp[a+1:b] + fp[b+1:]
			}
			if !served[strings.ToUpper(m)+" "+fp] {
				t.Errorf("the description has %s %s, which is not served", strings.ToUpper(m), p)
			}
		}
	}
	if ops != len(served) {
		t.Errorf("the description has %d operations, the hub serves %d", ops, len(served))
	}
	t.Logf("OpenAPI coverage: %d operations documented, %d served", ops, len(served))
}
