package promnames

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"
)

// FromDashboard returns the metric names a Grafana dashboard's queries refer
// to: every panel target's expr (through rows and nested panels, at any
// depth), every annotation query's expr and every query variable's query.
func FromDashboard(path string) ([]string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: the caller names the file to check (a test or a CI tool)
	if err != nil {
		return nil, fmt.Errorf("promnames: read dashboard: %w", err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("promnames: parse dashboard %s: %w", path, err)
	}
	exprs := DashboardExprs(doc)
	return namesOf(exprs), nil
}

// DashboardExprs returns the query strings of a decoded dashboard (as
// json.Unmarshal into an any gives it), in document order.
func DashboardExprs(doc any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, key := range sortedKeys(v) {
				child := v[key]
				switch key {
				case "targets":
					for _, t := range asList(child) {
						if m, ok := t.(map[string]any); ok {
							if e, ok := m["expr"].(string); ok && e != "" {
								out = append(out, e)
							}
						}
					}
				case "templating", "annotations":
					if m, ok := child.(map[string]any); ok {
						for _, item := range asList(m["list"]) {
							out = append(out, variableQuery(key, item)...)
						}
					}
				}
				walk(child)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	return out
}

// variableQuery gives the PromQL of a templating variable of type "query"
// (query is a string in older dashboards, {"query": "…"} in newer ones) or of
// an annotation (its expr).
func variableQuery(section string, item any) []string {
	m, ok := item.(map[string]any)
	if !ok {
		return nil
	}
	if section == "annotations" {
		if e, ok := m["expr"].(string); ok && e != "" {
			return []string{e}
		}
		return nil
	}
	if m["type"] != "query" {
		return nil // datasource, custom, interval, constant … variables hold no PromQL
	}
	switch q := m["query"].(type) {
	case string:
		return []string{q}
	case map[string]any:
		if s, ok := q["query"].(string); ok {
			return []string{s}
		}
	}
	return nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// FromRules returns the metric names that the expr of every alerting and
// recording rule in a Prometheus rule file refers to.
func FromRules(path string) ([]string, error) {
	exprs, err := RuleExprs(path)
	if err != nil {
		return nil, err
	}
	return namesOf(exprs), nil
}

// RuleExprs returns every rule's expr in a Prometheus rule file, in order.
func RuleExprs(path string) ([]string, error) {
	b, err := os.ReadFile(path) //nolint:gosec // G304: the caller names the file to check (a test or a CI tool)
	if err != nil {
		return nil, fmt.Errorf("promnames: read rules: %w", err)
	}
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("promnames: parse rules %s: %w", path, err)
	}
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Expr != "" {
				out = append(out, r.Expr)
			}
		}
	}
	return out, nil
}

func namesOf(exprs []string) []string {
	c := newCollector()
	for _, e := range exprs {
		scan(e, c)
	}
	return sortedSet(c.names)
}
