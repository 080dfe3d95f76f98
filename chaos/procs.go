package chaos

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc supervises one pipeline process (ingest or alert): it starts it,
// restarts it whenever it exits (a crash is a finding, counted, not the
// end of the run), and can SIGKILL it on purpose.
type proc struct {
	name string
	path string
	args []string
	env  []string
	log  io.Writer // the process's stderr and stdout, appended across restarts
	// once: an exit by itself is final, not a crash (a fleet worker leaves
	// when the backfill is done); exited is closed then, with exitErr.
	once    bool
	exited  chan struct{}
	exitErr error

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	starts   int
	crashes  int // exits the driver did not cause
	stopping bool
	wg       sync.WaitGroup
}

func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.once && p.exited == nil {
		p.exited = make(chan struct{})
	}
	return p.startLocked()
}

// pid is the running process's id (0: none).
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *proc) startLocked() error {
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.log, p.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	fmt.Fprintf(p.log, "### chaos: %s started (pid %d, start %d)\n", p.name, cmd.Process.Pid, p.starts+1)
	p.cmd, p.done = cmd, make(chan struct{})
	p.starts++
	done := p.done
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		err := cmd.Wait()
		close(done)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.cmd != cmd || p.stopping {
			return // killed on purpose, or being stopped
		}
		if p.once {
			fmt.Fprintf(p.log, "### chaos: %s exited (%v)\n", p.name, err)
			p.cmd, p.exitErr = nil, err
			close(p.exited)
			return
		}
		p.crashes++
		fmt.Fprintf(p.log, "### chaos: %s exited by itself (%v); restarting\n", p.name, err)
		p.cmd = nil
		go func() {
			time.Sleep(time.Second)
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.cmd == nil && !p.stopping {
				if err := p.startLocked(); err != nil {
					fmt.Fprintf(p.log, "### chaos: %v\n", err)
				}
			}
		}()
	}()
	return nil
}

// kill SIGKILLs the process and waits for it to die (false: it was not
// running); restart starts it again.
func (p *proc) kill() bool {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return false
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	fmt.Fprintf(p.log, "### chaos: %s SIGKILLed\n", p.name)
	return true
}

func (p *proc) restart() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil || p.stopping {
		return nil
	}
	return p.startLocked()
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs.
func (p *proc) stop(grace time.Duration) {
	p.mu.Lock()
	p.stopping = true
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(grace):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
	}
	p.wg.Wait()
}

// startBroker starts the broker process and waits for its ready line; every
// later line of its stdout goes to onLine (and to log).
func startBroker(path string, args []string, log io.Writer, onLine func(string)) (*exec.Cmd, error) {
	cmd := exec.Command(path, args...)
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(log, line)
			if strings.HasPrefix(line, "ready ") {
				select {
				case ready <- line:
				default:
				}
			} else if onLine != nil {
				onLine(line)
			}
		}
	}()
	select {
	case <-ready:
		return cmd, nil
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, errors.New("broker did not start within 30s")
	}
}

// stopBroker stops the broker process (resumed first, should it be
// paused): SIGTERM, and SIGKILL after 10s.
func stopBroker(broker *exec.Cmd) {
	broker.Process.Signal(syscall.SIGCONT)
	broker.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { broker.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		broker.Process.Kill()
		<-done
	}
}

// openLog opens (appends to) a process log in dir.
func openLog(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
}
