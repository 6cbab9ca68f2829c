package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/uptrace/bun"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// trTracerName names the tracer of the database spans.
const trTracerName = "github.com/codex32/codex32/models"

// Trace makes every query through db.Bun a client span of the caller's
// context, named "db <operation> <table>". Call it right after Open, before
// db.Bun is handed to anything: Bun's hooks live on the *bun.DB value (a
// copy taken earlier is not traced). River's own queries do not go through
// Bun and are not traced here.
//
// A span never carries the SQL: Bun interpolates the arguments into the
// text, so it would carry inputs and secrets. Only the operation, the table
// and, for an error, its SQLSTATE or SQLite code.
func (db *DB) Trace(tp trace.TracerProvider) {
	system := "sqlite"
	if db.Dialect == Postgres {
		system = "postgresql"
	}
	db.Bun = db.Bun.WithQueryHook(&trQueryHook{
		tracer: tp.Tracer(trTracerName),
		system: attribute.String("db.system", system),
	})
}

// trQueryHook is the bun.QueryHook of Trace.
type trQueryHook struct {
	tracer trace.Tracer
	system attribute.KeyValue
}

var _ bun.QueryHook = (*trQueryHook)(nil)

// BeforeQuery starts the span; AfterQuery finds it in the context Bun hands back.
func (h *trQueryHook) BeforeQuery(ctx context.Context, ev *bun.QueryEvent) context.Context {
	op := trOperation(ev)
	table := trTable(ev)
	name := "db " + op
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, h.system, attribute.String("db.operation", op))
	if table != "" {
		name += " " + table
		attrs = append(attrs, attribute.String("db.sql.table", table))
	}
	ctx, _ = h.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx
}

// AfterQuery ends the span, marking it failed for any error but no rows.
func (h *trQueryHook) AfterQuery(ctx context.Context, ev *bun.QueryEvent) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		span.End()
		return
	}
	if ev.Err != nil && !errors.Is(ev.Err, sql.ErrNoRows) {
		// Not the error text: Postgres quotes offending values in it
		// ("invalid input syntax for type uuid: \"…\"").
		kind := trErrorKind(ev.Err)
		span.SetAttributes(attribute.String("error.type", kind))
		span.SetStatus(codes.Error, kind)
	}
	span.End()
}

var (
	trKeywordRE = regexp.MustCompile(`^[A-Za-z]{1,16}$`)
	// trIdentRE is a plain (optionally schema-qualified, optionally quoted)
	// table name: nothing that could be a value.
	trIdentRE = regexp.MustCompile(`^"?[A-Za-z_][A-Za-z0-9_]*"?(\."?[A-Za-z_][A-Za-z0-9_]*"?)?$`)
	// trLiteralRE is a single-quoted SQL string (Bun escapes ' as '').
	trLiteralRE = regexp.MustCompile(`'(?:[^']|'')*'`)
	// trTableRE finds the first table a statement names.
	trTableRE = regexp.MustCompile(`(?i)\b(?:FROM|INTO|UPDATE|TABLE)\s+((?:"[^"]+"|[A-Za-z_][A-Za-z0-9_]*)(?:\.(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_]*))?)`)
)

// trOperation is SELECT, INSERT, … (BEGIN and COMMIT for transactions).
// Raw queries report SELECT to Bun whatever they are, so theirs is read
// from the statement's first word.
func trOperation(ev *bun.QueryEvent) string {
	if ev.IQuery != nil {
		if _, raw := ev.IQuery.(*bun.RawQuery); !raw {
			return ev.IQuery.Operation()
		}
	}
	word, _, _ := strings.Cut(strings.TrimSpace(ev.Query), " ")
	word, _, _ = strings.Cut(word, "\n")
	if !trKeywordRE.MatchString(word) {
		return "QUERY"
	}
	return strings.ToUpper(word)
}

// trTable is the query's (first) table, or "" when it has no plain one.
func trTable(ev *bun.QueryEvent) string {
	var name string
	if ev.IQuery != nil {
		if _, raw := ev.IQuery.(*bun.RawQuery); !raw {
			// ModelTableExpr gives "bot_executions AS e": the first word.
			name, _, _ = strings.Cut(strings.TrimSpace(ev.IQuery.GetTableName()), " ")
		}
	}
	if name == "" {
		// Raw SQL: values are in the text, so drop every string literal
		// before looking for the table.
		if m := trTableRE.FindStringSubmatch(trLiteralRE.ReplaceAllString(ev.Query, "''")); m != nil {
			name = m[1]
		}
	}
	if !trIdentRE.MatchString(name) {
		return ""
	}
	return strings.ReplaceAll(name, `"`, "")
}

// trErrorKind names an error without its text: the Postgres SQLSTATE,
// the SQLite result code, or the Go type.
func trErrorKind(err error) string {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		return "SQLSTATE " + pg.SQLState()
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		return "SQLITE " + strconv.Itoa(lite.Code())
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline_exceeded"
	}
	return fmt.Sprintf("%T", err)
}
