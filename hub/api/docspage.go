package api

import (
	"bytes"
	"html/template"
	"sort"
	"strconv"
	"strings"
)

// GET /v1/docs: the OpenAPI description rendered on the hub, as one page
// without scripts or anything fetched from elsewhere, so that it works on
// a hub without Internet access and under a strict Content-Security-Policy.

type pageOp struct {
	Method, Path, Anchor string
	Op                   *oaOp
	Body                 *pageSchema
	BodyType             string
	Success              string
	SuccessData          *pageSchema
	SuccessType          string
	Errors               []string
}

type pageTag struct {
	Name, Description string
	Ops               []pageOp
}

type pageField struct {
	Name, Type, Description string
}

type pageSchema struct {
	Name   string
	Fields []pageField
}

type pagePage struct {
	Info       oaInfo
	Tags       []pageTag
	Components []pageSchema
	Count      int
}

var docsTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Info.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2430}
header{background:#1d2430;color:#fff;padding:1em 2em}header a{color:#9cd}
main{display:flex}nav{width:18em;padding:1em;border-right:1px solid #ddd;font-size:13px;position:sticky;top:0;height:100vh;overflow:auto}
nav a{display:block;color:#345;text-decoration:none;padding:1px 0}section{flex:1;padding:1em 2em;max-width:70em}
.op{border:1px solid #dde;border-radius:6px;margin:1em 0;padding:.6em 1em}.m{font-weight:700;font-family:monospace;padding:1px 6px;border-radius:4px;color:#fff}
.GET{background:#2a7}.POST{background:#27c}.PUT{background:#c80}.DELETE{background:#c33}code,.path{font-family:monospace}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top;font-size:13px}
.who{color:#666;font-size:13px}
</style></head><body>
<header><h1>{{.Info.Title}} <small>{{.Info.Version}}</small></h1><p>{{.Info.Description}}</p>
<p>{{.Count}} operations. Machine-readable: <a href="/v1/openapi.json">/v1/openapi.json</a> (OpenAPI 3.1).</p></header>
<main><nav>{{range .Tags}}<b>{{.Name}}</b>{{range .Ops}}<a href="#{{.Anchor}}"><span class="path">{{.Method}} {{.Path}}</span></a>{{end}}{{end}}<b>Schemas</b>{{range .Components}}<a href="#schema-{{.Name}}">{{.Name}}</a>{{end}}</nav>
<section>{{range .Tags}}<h2>{{.Name}}</h2><p>{{.Description}}</p>{{range .Ops}}
<div class="op" id="{{.Anchor}}"><p><span class="m {{.Method}}">{{.Method}}</span> <span class="path">{{.Path}}</span> — <b>{{.Op.Summary}}</b></p>
<p>{{.Op.Description}}</p>{{if .Op.Audit}}<p class="who">Recorded in the audit trail as <code>{{.Op.Audit}}</code>.</p>{{end}}
{{if .Op.Parameters}}<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Description</th></tr>{{range .Op.Parameters}}<tr><td><code>{{.Name}}</code>{{if .Required}} *{{end}}</td><td>{{.In}}</td><td>{{template "type" .Schema}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
{{if .BodyType}}<p>Body: <code>{{.BodyType}}</code></p>{{end}}{{with .Body}}{{template "fields" .}}{{end}}
<p>Success: {{.Success}}{{if .SuccessType}}, data <code>{{.SuccessType}}</code>{{end}}. Errors: {{range $i, $e := .Errors}}{{if $i}}, {{end}}{{$e}}{{end}}.</p>
</div>{{end}}{{end}}
<h2>Schemas</h2>{{range .Components}}<h3 id="schema-{{.Name}}">{{.Name}}</h3>{{template "fields" .}}{{end}}
</section></main></body></html>
{{define "fields"}}<table><tr><th>Field</th><th>Type</th><th>Description</th></tr>{{range .Fields}}<tr><td><code>{{.Name}}</code></td><td>{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}</table>{{end}}
{{define "type"}}{{if .Enum}}{{range $i, $e := .Enum}}{{if $i}} | {{end}}{{$e}}{{end}}{{else if .Items}}array of {{.Items.Type}}{{else}}{{.Type}}{{end}}{{if .Default}} (default {{.Default}}){{end}}{{end}}
`))

// typeText is a schema's type for people: a component's name, or the JSON type.
func typeText(s *oaSchema) string {
	if s == nil {
		return "any"
	}
	if s.Ref != "" {
		return strings.TrimPrefix(s.Ref, "#/components/schemas/")
	}
	if len(s.OneOf) > 0 {
		var alts []string
		for _, a := range s.OneOf {
			alts = append(alts, typeText(a))
		}
		return strings.Join(alts, " or ")
	}
	switch t := s.Type.(type) {
	case string:
		if t == "array" {
			return "array of " + typeText(s.Items)
		}
		return t
	case []string:
		if t[0] == "array" {
			return "array of " + typeText(s.Items)
		}
		if t[0] == "object" && s.AdditionalProperties != nil {
			return "map of " + typeText(s.AdditionalProperties)
		}
		return t[0]
	}
	return "any"
}

func fieldsOfSchema(name string, s *oaSchema) *pageSchema {
	if s == nil || s.Properties == nil {
		return nil
	}
	p := &pageSchema{Name: name}
	for _, f := range s.order {
		fs := s.Properties[f]
		p.Fields = append(p.Fields, pageField{Name: f, Type: typeText(fs), Description: fs.Description})
	}
	return p
}

func renderDocsPage(d *oaDoc) ([]byte, error) {
	page := pagePage{Info: d.Info}
	for _, t := range d.Tags {
		pt := pageTag{Name: t.Name, Description: t.Description}
		for _, ref := range d.byTag[t.Name] {
			po := pageOp{Method: ref.Method, Path: ref.Path, Op: ref.Op, Anchor: ref.Op.OperationID}
			if b := ref.Op.RequestBody; b != nil {
				for mt, m := range b.Content {
					po.BodyType = mt + " " + typeText(m.Schema)
					po.Body = fieldsOfSchema("", m.Schema)
				}
			}
			var codes []string
			for code := range ref.Op.Responses {
				codes = append(codes, code)
			}
			sort.Strings(codes)
			for _, code := range codes {
				r := ref.Op.Responses[code]
				n, _ := strconv.Atoi(code)
				if n >= 400 {
					po.Errors = append(po.Errors, code)
					continue
				}
				po.Success = code
				for mt, m := range r.Content {
					if env := m.Schema; mt == "application/json" && env.Properties["data"] != nil {
						po.SuccessType = typeText(env.Properties["data"])
					} else {
						po.Success += " " + mt
					}
				}
			}
			pt.Ops = append(pt.Ops, po)
			page.Count++
		}
		page.Tags = append(page.Tags, pt)
	}
	var names []string
	for n := range d.Components.Schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if p := fieldsOfSchema(n, d.Components.Schemas[n]); p != nil {
			page.Components = append(page.Components, *p)
		}
	}
	var b bytes.Buffer
	if err := docsTemplate.Execute(&b, page); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
