package openapi

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"go.yaml.in/yaml/v3"

	"github.com/codex32/codex32/views"
)

var docs = sync.OnceValues(func() (views.APIDocs, error) {
	root, err := parse()
	if err != nil {
		return views.APIDocs{}, err
	}
	return (&docBuilder{root: root, md: goldmark.New(goldmark.WithExtensions(extension.GFM))}).build()
})

// Docs is the document read for the docs page: every operation by tag, in
// the order written, and every schema. Descriptions are Markdown rendered
// to HTML (raw HTML in them is dropped).
func Docs() (views.APIDocs, error) { return docs() }

type docBuilder struct {
	root *yaml.Node
	md   goldmark.Markdown
	err  error
}

func (b *docBuilder) build() (views.APIDocs, error) {
	info := get(b.root, "info")
	d := views.APIDocs{Title: str(info, "title"), Version: str(info, "version"), IntroHTML: b.markdown(str(info, "description"))}
	tagIndex := map[string]int{}
	for _, t := range items(get(b.root, "tags")) {
		tagIndex[str(t, "name")] = len(d.Tags)
		d.Tags = append(d.Tags, views.APIDocsTag{Name: str(t, "name"), DescriptionHTML: b.markdown(str(t, "description"))})
	}
	for _, p := range pairs(get(b.root, "paths")) {
		pathParams := items(get(p.val, "parameters"))
		for _, m := range pairs(p.val) {
			switch m.key {
			case "get", "put", "post", "delete", "patch":
			default:
				continue
			}
			op := b.operation(p.key, m.key, m.val, pathParams)
			tag := "other"
			if ts := items(get(m.val, "tags")); len(ts) > 0 {
				tag = ts[0].Value
			}
			i, ok := tagIndex[tag]
			if !ok {
				i = len(d.Tags)
				tagIndex[tag] = i
				d.Tags = append(d.Tags, views.APIDocsTag{Name: tag})
			}
			d.Tags[i].Operations = append(d.Tags[i].Operations, op)
		}
	}
	for _, s := range pairs(get(get(b.root, "components"), "schemas")) {
		d.Schemas = append(d.Schemas, b.schema(s.key, s.val))
	}
	return d, b.err
}

func (b *docBuilder) operation(path, method string, n *yaml.Node, pathParams []*yaml.Node) views.APIDocsOperation {
	op := views.APIDocsOperation{
		ID: str(n, "operationId"), Method: strings.ToUpper(method), Path: path, Summary: str(n, "summary"),
		DescriptionHTML: b.markdown(str(n, "description")), Scope: str(n, "x-codex32-scope"), Permission: str(n, "x-codex32-permission"),
	}
	if sec := get(n, "security"); sec != nil && len(sec.Content) == 0 {
		op.Public = true
	}
	for _, pn := range append(append([]*yaml.Node{}, pathParams...), items(get(n, "parameters"))...) {
		pn = b.resolve(pn)
		op.Params = append(op.Params, views.APIDocsParam{Name: str(pn, "name"), In: str(pn, "in"), Required: str(pn, "required") == "true",
			Type: b.typeOf(get(pn, "schema")), DescriptionHTML: b.inline(str(pn, "description"))})
	}
	example := ""
	if rb := b.resolve(get(n, "requestBody")); rb != nil {
		if content := pairs(get(rb, "content")); len(content) > 0 {
			c := content[0] // the API takes JSON only
			op.Body = &views.APIDocsBody{MediaType: c.key, Required: str(rb, "required") == "true", Type: b.typeOf(get(c.val, "schema"))}
			if ex := get(c.val, "example"); ex != nil {
				var buf bytes.Buffer
				if err := writeJSON(&buf, ex); err != nil {
					b.fail(err)
				}
				example = buf.String()
			}
		}
	}
	for _, r := range pairs(get(n, "responses")) {
		rn := b.resolve(r.val)
		resp := views.APIDocsResponse{Status: r.key, DescriptionHTML: b.inline(str(rn, "description"))}
		for _, c := range pairs(get(rn, "content")) {
			resp.MediaTypes = append(resp.MediaTypes, c.key)
			if resp.Type == (views.APIDocsType{}) {
				resp.Type = b.typeOf(get(c.val, "schema"))
			}
		}
		op.Responses = append(op.Responses, resp)
	}
	op.Curl = curl(op, str(n, "x-codex32-example-query"), example)
	return op
}

// curl is an example command; $CODEX32_URL and $CODEX32_API_KEY are set by
// the reader (the page says how).
func curl(op views.APIDocsOperation, query, body string) string {
	var b strings.Builder
	b.WriteString("curl")
	if op.Method != "GET" {
		b.WriteString(" -X " + op.Method)
	}
	url := "$CODEX32_URL" + op.Path
	if query != "" {
		url += "?" + query
	}
	b.WriteString(` "` + url + `"`)
	if !op.Public {
		b.WriteString(" \\\n  -H \"Authorization: Bearer $CODEX32_API_KEY\"")
	}
	if body != "" {
		b.WriteString(" \\\n  -H \"Content-Type: application/json\" \\\n  -d '" + strings.ReplaceAll(body, "'", `'\''`) + "'")
	}
	return b.String()
}

func (b *docBuilder) schema(name string, n *yaml.Node) views.APIDocsSchema {
	s := views.APIDocsSchema{Name: name, DescriptionHTML: b.markdown(str(n, "description")), Type: b.typeOf(n)}
	required := map[string]bool{}
	for _, r := range items(get(n, "required")) {
		required[r.Value] = true
	}
	for _, p := range pairs(get(n, "properties")) {
		s.Props = append(s.Props, views.APIDocsProp{Name: p.key, Type: b.typeOf(p.val), Required: required[p.key], DescriptionHTML: b.inline(str(p.val, "description"))})
	}
	return s
}

// typeOf describes a schema in a few words, linking a referenced schema.
func (b *docBuilder) typeOf(s *yaml.Node) views.APIDocsType {
	if s == nil {
		return views.APIDocsType{Prefix: "any JSON value"}
	}
	if ref := str(s, "$ref"); ref != "" {
		return views.APIDocsType{Ref: ref[strings.LastIndex(ref, "/")+1:]}
	}
	var types []string
	nullable := false
	if t := get(s, "type"); t != nil {
		for _, v := range append(items(t), scalar(t)...) {
			if v.Value == "null" {
				nullable = true
			} else {
				types = append(types, v.Value)
			}
		}
	}
	var out views.APIDocsType
	switch {
	case len(types) == 1 && types[0] == "array":
		it := b.typeOf(get(s, "items"))
		out = views.APIDocsType{Prefix: "array of " + it.Prefix, Ref: it.Ref, Suffix: it.Suffix}
	case len(types) == 0:
		out.Prefix = "any JSON value"
	default:
		out.Prefix = strings.Join(types, " or ")
		if f := str(s, "format"); f != "" {
			out.Prefix += " (" + f + ")"
		}
	}
	if c := get(s, "const"); c != nil {
		out.Prefix += " " + fmt.Sprintf("%q", c.Value)
	}
	if e := items(get(s, "enum")); len(e) > 0 {
		vals := make([]string, len(e))
		for i, v := range e {
			vals[i] = v.Value
		}
		out.Suffix += ": " + strings.Join(vals, ", ")
	}
	if nullable {
		out.Suffix += " or null"
	}
	return out
}

func (b *docBuilder) markdown(s string) string {
	if s == "" {
		return ""
	}
	var buf bytes.Buffer
	if err := b.md.Convert([]byte(s), &buf); err != nil {
		b.fail(err)
	}
	return buf.String()
}

// inline renders a one-paragraph description without its <p>.
func (b *docBuilder) inline(s string) string {
	h := strings.TrimSpace(b.markdown(s))
	if inner, ok := strings.CutPrefix(h, "<p>"); ok && strings.Count(h, "<p>") == 1 {
		return strings.TrimSuffix(inner, "</p>")
	}
	return h
}

// resolve follows a local $ref (#/components/...).
func (b *docBuilder) resolve(n *yaml.Node) *yaml.Node {
	ref := str(n, "$ref")
	if ref == "" {
		return n
	}
	cur := b.root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		cur = get(cur, part)
	}
	if cur == nil {
		b.fail(fmt.Errorf("openapi: unresolved $ref %s", ref))
	}
	return cur
}

func (b *docBuilder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

type pair struct {
	key string
	val *yaml.Node
}

func pairs(n *yaml.Node) []pair {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	out := make([]pair, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, pair{n.Content[i].Value, n.Content[i+1]})
	}
	return out
}

func get(n *yaml.Node, key string) *yaml.Node {
	for _, p := range pairs(n) {
		if p.key == key {
			return p.val
		}
	}
	return nil
}

func str(n *yaml.Node, key string) string {
	if v := get(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

func items(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

func scalar(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.ScalarNode {
		return nil
	}
	return []*yaml.Node{n}
}
