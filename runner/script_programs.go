package runner

import (
	"container/list"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
)

// programCacheSize is how many compiled scripts a sandbox child keeps. A
// compiled program is immutable and may run in any runtime; runtimes are
// never reused.
const programCacheSize = 64

// programCache is a small LRU of compiled scripts keyed by the sha256 of
// their source. Compile failures are cached too: they are as deterministic.
type programCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *compiledScript, most recently used first
	byKey map[[sha256.Size]byte]*list.Element
}

type compiledScript struct {
	key     [sha256.Size]byte
	program *goja.Program
	failure *scriptFailure
}

func newProgramCache(max int) *programCache {
	return &programCache{max: max, order: list.New(), byKey: make(map[[sha256.Size]byte]*list.Element)}
}

// compile returns the compiled source, or why it does not compile.
func (c *programCache) compile(src string) (*goja.Program, *scriptFailure) {
	key := sha256.Sum256([]byte(src))
	c.mu.Lock()
	if el, ok := c.byKey[key]; ok {
		c.order.MoveToFront(el)
		cs := el.Value.(*compiledScript)
		c.mu.Unlock()
		return cs.program, cs.failure
	}
	c.mu.Unlock()

	cs := &compiledScript{key: key}
	cs.program, cs.failure = compileScript(src)

	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; !ok {
		c.byKey[key] = c.order.PushFront(cs)
		for c.order.Len() > c.max {
			oldest := c.order.Back()
			c.order.Remove(oldest)
			delete(c.byKey, oldest.Value.(*compiledScript).key)
		}
	}
	return cs.program, cs.failure
}

// compileScript compiles src the way config validation checks it, with
// source maps off so that a sourceMappingURL comment cannot make goja read
// a file.
func compileScript(src string) (prg *goja.Program, failure *scriptFailure) {
	defer func() {
		// goja is not ours; a parser bug must fail the run, not the process.
		if r := recover(); r != nil {
			prg, failure = nil, &scriptFailure{Message: fmt.Sprintf("could not parse the script: %v", r)}
		}
	}()
	ast, err := parser.ParseFile(nil, scriptFileName, src, 0, parser.WithDisableSourceMaps)
	if err == nil {
		prg, err = goja.CompileAST(ast, false)
	}
	if err != nil {
		msg := "the script does not compile: " + err.Error()
		if errs := scriptSyntaxErrors(err); len(errs) > 0 {
			msg = errs[0].Message
		}
		return nil, &scriptFailure{Message: msg}
	}
	return prg, nil
}
