package promnames

import (
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Exposed reads a /metrics response in the Prometheus text format and returns
// what Missing takes: each metric family's name and its type in lower case
// ("counter", "gauge", "histogram", "summary", "untyped").
func Exposed(r io.Reader) (map[string]string, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("promnames: parse /metrics: %w", err)
	}
	out := make(map[string]string, len(families))
	for name, f := range families {
		out[name] = strings.ToLower(f.GetType().String())
	}
	return out, nil
}
