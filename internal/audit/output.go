package audit

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Format is an output format.
type Format string

// The output formats: a table for people, JSON and CSV for machines.
const (
	FormatTable Format = "table"
	FormatJSON  Format = "json"
	FormatCSV   Format = "csv"
)

// ParseFormat accepts table, json and csv.
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatTable, FormatJSON, FormatCSV:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want table, json or csv)", s)
}

// Summary counts results by status.
type Summary struct {
	Pass  int `json:"pass"`
	Fail  int `json:"fail"`
	Error int `json:"error"`
}

// Summarise counts results by status.
func Summarise(rs []Result) Summary {
	var s Summary
	for _, r := range rs {
		switch r.Status {
		case StatusPass:
			s.Pass++
		case StatusFail:
			s.Fail++
		default:
			s.Error++
		}
	}
	return s
}

// ExitCode is the command's exit status for results: 0 when every account
// passed, 1 when some account failed a check and every account was
// audited, 2 when some account could not be audited (the answer is
// incomplete, which outranks a failure).
func ExitCode(rs []Result) int {
	s := Summarise(rs)
	switch {
	case s.Error > 0:
		return 2
	case s.Fail > 0:
		return 1
	}
	return 0
}

// Report is the JSON document.
type Report struct {
	Days      int       `json:"days"`
	AuditedAt time.Time `json:"auditedAt"`
	Summary   Summary   `json:"summary"`
	Accounts  []Result  `json:"accounts"`
}

// Write renders results in format f.
func Write(w io.Writer, f Format, days int, now time.Time, rs []Result) error {
	switch f {
	case FormatJSON:
		if rs == nil {
			rs = []Result{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(Report{Days: days, AuditedAt: now.UTC(), Summary: Summarise(rs), Accounts: rs})
	case FormatCSV:
		return writeCSV(w, rs)
	default:
		return writeTable(w, days, rs)
	}
}

// CSVHeader is the CSV output's first row.
var CSVHeader = append(append([]string{"account_id", "account_name", "source", "status",
	"last_used_credential", "last_used_time", "days_since"}, CheckNames...), "error", "root_sessions", "root_session_issuers")

func writeCSV(w io.Writer, rs []Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, r := range rs {
		cred, when, days := lastUsedCells(r)
		row := []string{r.AccountID, r.AccountName, r.Source, string(r.Status), cred, when, days}
		for _, c := range CheckNames {
			row = append(row, checkCell(r, c))
		}
		row = append(row, r.Error, strconv.Itoa(len(r.Sessions)), strings.Join(sessionIssuers(r.Sessions), " "))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func lastUsedCells(r Result) (cred, when, days string) {
	if r.LastUsed == nil {
		if r.Status == StatusError {
			return "", "", ""
		}
		return "never", "", ""
	}
	cred, when = r.LastUsed.Credential, r.LastUsed.Time.UTC().Format(time.RFC3339)
	if r.DaysSince != nil {
		days = strconv.Itoa(*r.DaysSince)
	}
	return cred, when, days
}

func checkCell(r Result, name string) string {
	if r.Status == StatusError && len(r.Checks) == 0 {
		return ""
	}
	return string(r.Check(name).Status)
}

func writeTable(w io.Writer, days int, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ACCOUNT\tNAME\tSTATUS\tLAST ROOT USE\tDAYS AGO\tUSED<=%dd\tACCESS KEYS\tCERTS\tMFA\tDETAIL\n", days)
	for _, r := range rs {
		cred, when, d := lastUsedCells(r)
		last := "-"
		if when != "" {
			last = cred + " " + when
		} else if cred != "" {
			last = cred
		}
		if d == "" {
			d = "-"
		}
		cells := []string{dash(r.AccountID), dash(r.AccountName), strings.ToUpper(string(r.Status)), last, d}
		for _, c := range CheckNames {
			cells = append(cells, dash(checkCell(r, c)))
		}
		detail := r.Error
		if detail == "" {
			var fails []string
			for _, c := range r.Checks {
				if c.Status == StatusFail {
					fails = append(fails, c.Detail)
				}
			}
			detail = strings.Join(fails, "; ")
		}
		cells = append(cells, dash(detail))
		for i := range cells {
			cells[i] = printable(cells[i])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	s := Summarise(rs)
	fmt.Fprintf(tw, "\n%d account(s): %d pass, %d fail, %d not audited\n", len(rs), s.Pass, s.Fail, s.Error)
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeSessionsTable(w, days, rs)
}

// writeSessionsTable lists the centralised-root sessions of every account,
// with who opened them, after the accounts table (nothing when none).
func writeSessionsTable(w io.Writer, days int, rs []Result) error {
	n := 0
	for _, r := range rs {
		n += len(r.Sessions)
	}
	if n == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nCentralised root sessions (sts:AssumeRoot) in the last %d days:\n", days)
	fmt.Fprintln(tw, "ACCOUNT\tISSUED\tSTATUS\tOPENED BY\tFROM\tTASK POLICY\tACTIONS\tACCESS KEY")
	for _, r := range rs {
		for _, ss := range r.Sessions {
			issued, by := "-", "unknown (AssumeRoot event not in the logs read)"
			if ss.IssuedAt != nil {
				issued = ss.IssuedAt.UTC().Format(time.RFC3339)
			} else if ss.FirstAction != nil {
				issued = "used " + ss.FirstAction.UTC().Format(time.RFC3339)
			}
			if ss.Issuer != "" {
				by = ss.Issuer
			}
			status := ss.Status
			if ss.ErrorCode != "" {
				status += " (" + ss.ErrorCode + ")"
			}
			actions := strconv.Itoa(ss.Actions)
			if len(ss.EventNames) > 0 {
				actions += ": " + strings.Join(ss.EventNames, ", ")
			}
			cells := []string{dash(r.AccountID), issued, status, by, dash(ss.SourceIP), dash(ss.TaskPolicy), actions, dash(ss.AccessKeyID)}
			for i := range cells {
				cells[i] = printable(cells[i])
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	}
	return tw.Flush()
}

// sessionIssuers lists who opened the sessions, each once, in order;
// "unknown" for a session whose AssumeRoot event was not read.
func sessionIssuers(ss []RootSession) []string {
	var out []string
	for _, s := range ss {
		who := s.Issuer
		if who == "" {
			who = "unknown"
		}
		if !slices.Contains(out, who) {
			out = append(out, who)
		}
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printable keeps terminal escapes and tabs in account names or error
// text from reaching the terminal or breaking the table.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}
