package runner

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/parser"

	"github.com/codex32/codex32/models"
)

// MaxScriptBytes bounds a script's source.
const MaxScriptBytes = 200 << 10

// ScriptConfig runs JavaScript in a goja sandbox: the top-level function
// main(input) gets the execution's input and its result is the output.
type ScriptConfig struct {
	Source         string  `json:"source"`
	TimeoutSeconds float64 `json:"timeout_seconds"`
	RetrySettings
}

// Kind implements Config.
func (*ScriptConfig) Kind() models.BotKind { return models.KindScript }

// SecretNames implements Config: scripts get no secrets.
func (*ScriptConfig) SecretNames() []string { return nil }

// Timeout is how long one run may take.
func (c *ScriptConfig) Timeout() time.Duration { return seconds(c.TimeoutSeconds) }

func (c *checker) scriptConfig(root *jnode) *ScriptConfig {
	f := c.fields(root, "", append([]string{"source", "timeout_seconds"}, retryFieldNames...)...)
	cfg := &ScriptConfig{TimeoutSeconds: 5}

	if n := f["source"]; n == nil {
		c.missing("source")
	} else if s, ok := c.str("source", n, 0); ok {
		switch {
		case len(s) > MaxScriptBytes:
			c.at("source", n, "is %d bytes; the limit is %d (200 KB)", len(s), MaxScriptBytes)
		case strings.TrimSpace(s) == "":
			c.at("source", n, "is required")
		default:
			if errs := checkScript(s); len(errs) > 0 {
				c.errs = append(c.errs, errs...)
			} else {
				cfg.Source = s
			}
		}
	}

	if n := f["timeout_seconds"]; n != nil {
		if v, ok := c.number("timeout_seconds", n, 1, 60); ok {
			cfg.TimeoutSeconds = v
		}
	}
	cfg.RetrySettings = c.retrySettings(f)
	return cfg
}

// checkScript parses and compiles src and looks for a top-level main
// function. Positions in the errors are within src.
func checkScript(src string) (errs []FieldError) {
	defer func() {
		// goja is not ours; a parser bug must not take the server down.
		if r := recover(); r != nil {
			errs = []FieldError{{Path: "source", Message: fmt.Sprintf("could not parse the script: %v", r)}}
		}
	}()
	prg, err := parser.ParseFile(nil, "source.js", src, 0, parser.WithDisableSourceMaps)
	if err != nil {
		return scriptSyntaxErrors(err)
	}
	if _, err := goja.CompileAST(prg, false); err != nil {
		return scriptSyntaxErrors(err)
	}
	if msg := checkMain(prg); msg != "" {
		return []FieldError{{Path: "source", Message: msg}}
	}
	return nil
}

func scriptSyntaxErrors(err error) []FieldError {
	var list parser.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		// Later errors are mostly the parser losing its footing after the first.
		e := list[0]
		return []FieldError{scriptError(e.Position.Line, e.Position.Column, e.Message)}
	}
	var cse *goja.CompilerSyntaxError
	if errors.As(err, &cse) && cse.File != nil {
		pos := cse.File.Position(cse.Offset)
		return []FieldError{scriptError(pos.Line, pos.Column, cse.Message)}
	}
	return []FieldError{{Path: "source", Message: "the script does not compile: " + err.Error()}}
}

// scriptError is an error at a position within the script's source.
func scriptError(line, col int, msg string) FieldError {
	return FieldError{
		Path: "source", Line: line, Column: col, InScript: true,
		Message: fmt.Sprintf("SyntaxError at line %d, column %d of the script: %s", line, col, msg),
	}
}

const mainHint = "define a top-level function main(input) that returns the output"

// checkMain returns "" when the program declares main at top level as a
// plain (or async) function, or binds it to a function or arrow expression.
func checkMain(prg *ast.Program) string {
	for _, st := range prg.Body {
		var fn ast.Expression
		switch s := st.(type) {
		case *ast.FunctionDeclaration:
			if s.Function.Name != nil && s.Function.Name.Name == "main" {
				fn = s.Function
			}
		case *ast.VariableStatement:
			fn = mainInitializer(s.List)
		case *ast.LexicalDeclaration:
			fn = mainInitializer(s.List)
		}
		switch f := fn.(type) {
		case *ast.FunctionLiteral:
			if f.Generator {
				return "main must be a plain function, not a generator; " + mainHint
			}
			return ""
		case *ast.ArrowFunctionLiteral:
			return ""
		case nil:
		default:
			return "main must be a function; " + mainHint
		}
	}
	return "no main function found; " + mainHint
}

func mainInitializer(list []*ast.Binding) ast.Expression {
	for _, b := range list {
		if id, ok := b.Target.(*ast.Identifier); ok && id.Name == "main" {
			if b.Initializer == nil {
				return &ast.NullLiteral{}
			}
			return b.Initializer
		}
	}
	return nil
}
