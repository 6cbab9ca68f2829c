package runner

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
)

// logsTruncatedNote ends logs that hit MaxLogBytes.
const logsTruncatedNote = "… logs truncated\n"

// logBuffer collects a run's log lines, at most MaxLogBytes including the
// note that says later lines were dropped.
type logBuffer struct {
	b    strings.Builder
	full bool
	// onLine, if not nil, gets each line as it was kept (a cut line cut).
	onLine func(string)
}

// add appends one line. The line that does not fit is cut (on a character
// boundary) and everything after it dropped.
func (l *logBuffer) add(line string) {
	if l.full {
		return
	}
	room := MaxLogBytes - len(logsTruncatedNote) - l.b.Len()
	if len(line)+1 <= room {
		l.b.WriteString(line)
		l.b.WriteByte('\n')
		l.emit(line)
		return
	}
	l.full = true
	cut := room - 1
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	if cut > 0 {
		l.b.WriteString(line[:cut])
		l.b.WriteByte('\n')
		l.emit(line[:cut])
	}
}

func (l *logBuffer) emit(line string) {
	if l.onLine != nil {
		l.onLine(line)
	}
}

func (l *logBuffer) String() string {
	if l.full {
		return l.b.String() + logsTruncatedNote
	}
	return l.b.String()
}

// installConsole gives the script console.log and friends, writing to logs.
// warn and error lines are marked so they stand out in the execution's logs.
// The object is made on first use: building five native functions is a
// good part of a trivial run's cost, and most scripts never log.
func installConsole(vm *goja.Runtime, logs *logBuffer, stringify goja.Callable) {
	global := vm.GlobalObject()
	define := func(v goja.Value) {
		_ = global.DefineDataProperty("console", v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	get := func(goja.FunctionCall) goja.Value {
		c := newConsole(vm, logs, stringify)
		define(c)
		return c
	}
	set := func(call goja.FunctionCall) goja.Value {
		define(call.Argument(0))
		return goja.Undefined()
	}
	_ = global.DefineAccessorProperty("console", vm.ToValue(get), vm.ToValue(set), goja.FLAG_TRUE, goja.FLAG_FALSE)
}

func newConsole(vm *goja.Runtime, logs *logBuffer, stringify goja.Callable) *goja.Object {
	console := vm.NewObject()
	for _, m := range [...]struct{ name, prefix string }{
		{"log", ""}, {"info", ""}, {"debug", ""}, {"warn", "[warn] "}, {"error", "[error] "},
	} {
		prefix := m.prefix
		_ = console.Set(m.name, func(call goja.FunctionCall) goja.Value {
			if !logs.full { // a log flood costs nothing once the logs are full
				logs.add(prefix + formatLogArgs(call.Arguments, stringify))
			}
			return goja.Undefined()
		})
	}
	return console
}

// formatLogArgs joins console arguments with spaces the way browsers show
// them: strings as they are, objects and arrays as JSON, errors as "Name: message".
func formatLogArgs(args []goja.Value, stringify goja.Callable) string {
	if len(args) == 1 {
		return formatLogValue(args[0], stringify)
	}
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = formatLogValue(a, stringify)
	}
	return strings.Join(parts, " ")
}

func formatLogValue(v goja.Value, stringify goja.Callable) string {
	switch x := v.(type) {
	case nil:
		return "undefined"
	case *goja.Symbol:
		return "Symbol(" + x.String() + ")"
	case *goja.Object:
		if _, isFn := goja.AssertFunction(x); isFn {
			return "[Function]"
		}
		if x.ClassName() == "Error" {
			return x.String()
		}
		s, err := stringify(goja.Undefined(), x)
		if err != nil {
			propagateUncatchable(err)
			return x.String()
		}
		if goja.IsUndefined(s) {
			return x.String()
		}
		return s.String()
	}
	return v.String()
}

// propagateUncatchable re-raises an interrupt or stack overflow that a
// nested call reported as an error, so the script cannot swallow it.
func propagateUncatchable(err error) {
	var ie *goja.InterruptedError
	var so *goja.StackOverflowError
	if errors.As(err, &ie) {
		panic(ie)
	}
	if errors.As(err, &so) {
		panic(so)
	}
}
