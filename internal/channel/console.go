package channel

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

func init() { Register("console", newConsole) }

// console writes one readable line per notification to stdout, for the
// demo and for piping into other tools. It is read by people like every
// other channel: text is Plain (invisible characters marked, so a hostile
// user agent cannot inject terminal escapes; URLs and hosts defanged).
type console struct {
	name string
	mu   sync.Mutex
	w    io.Writer
	now  func() time.Time
	// events adds one indented line per finding.
	events bool
}

type consoleConfig struct {
	// Events lists each finding on its own indented line after the summary line.
	Events bool `yaml:"events"`
}

func newConsole(c Config, d Deps) (Channel, error) {
	var cfg consoleConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	return &console{name: c.Name, w: d.Stdout, now: d.Now, events: cfg.Events}, nil
}

func (c *console) Name() string { return c.name }

func (c *console) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := Render(n)
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %-7s %-8s %s | %s | incident %s",
		c.now().UTC().Format(time.RFC3339), strings.ToUpper(string(n.Kind)), m.Severity,
		m.Title.In(Plain), m.Summary.In(Plain), m.IncidentID.In(Plain))
	for _, note := range m.Notes {
		sb.WriteString(" | note: " + note.In(Plain))
	}
	sb.WriteString("\n")
	if c.events {
		for _, e := range m.Events {
			sb.WriteString("    " + e.Line(Plain) + "\n")
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.w, sb.String()); err != nil {
		return nil, fmt.Errorf("%s: write: %w", c.name, err)
	}
	return nil, nil
}
