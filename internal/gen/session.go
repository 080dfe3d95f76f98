package gen

import (
	"math/rand/v2"
	"time"
)

// Centralised root access (sts:AssumeRoot). A session's actions in a
// member account carry the access key its sts:AssumeRoot call in the
// management account issued, so the generated world is coherent: alert can
// name who opened every session it sees. Sessions are a world-level,
// deterministic set: at most one per member account and 5-minute period,
// opened by a call in the management account's file of that period and
// first region (file index period*slots, the first file of the period, so
// the call is normally read before the actions), issued shortly after the
// period starts, used in the member account's files of the same period,
// and expiring 15 minutes after issue. Whether a member account's file of
// a period holds actions of its session is decided by the file's plan
// (which records are root activity, of what kind), a random stream of its
// own, so the management account's file can tell which sessions were used
// without writing the member accounts' files.

// sessionDuration is how long AssumeRoot credentials last (900 seconds,
// the most AWS grants).
const sessionDuration = 15 * time.Minute

// taskPolicy is an AWS root-task policy and the calls it allows.
type taskPolicy struct {
	name string
	apis []*api
	// regional: its calls are made in any region (S3, SQS); the IAM ones
	// are global, recorded in us-east-1 only.
	regional bool
}

// sessionCallers are who opens sessions in the management account: the
// role (an index into roleNames) and the role session name.
var sessionCallers = []struct {
	role    int
	session string
}{
	{1, "security@example.com"}, {1, "alice@example.com"}, {0, "ops-admin"},
}

// session is one centralised-root session.
type session struct {
	target  *account
	key     string // the ASIA... access key the call issued and the actions carry
	caller  principal
	callerS string // the caller's role session name
	policy  *taskPolicy
	issued  time.Time
	ip      string // where the call came from, and the actions
	ua      string
	used    bool // some file of the period holds an action of it
}

// recKind is what a planned record is.
type recKind uint8

const (
	recBackground recKind = iota
	recRoot
	recLookalike
)

// plan draws what each record of one file is, from a random stream of its
// own (the file's content comes from another), so that which records of a
// file are session actions can be known without writing the file.
type plan struct {
	r         *rand.Rand
	rootShare float64
	lookShare float64
	global    bool // us-east-1: sign-ins and credential changes happen here
	member    bool // a member account: centralised-root sessions target it
}

func (w *world) plan(i int) (p plan, n int) {
	cfg := w.cfg
	acct := w.accounts[i%len(w.accounts)]
	p = plan{r: rand.New(rand.NewPCG(cfg.Seed, uint64(i)+0x6a09e667f3bcc909)), rootShare: cfg.RootShare,
		lookShare: cfg.LookalikeShare, global: w.region(i) == "us-east-1", member: acct != w.mgmt}
	n = 1
	if m := cfg.RecordsPerFile; m > 1 {
		n = 1 + p.r.IntN(2*m-1)
	}
	return p, n
}

// next says what the next record is; for root activity also k, which
// kind (rootRecord's cases), already fitted to the file's region and
// account.
func (p *plan) next() (recKind, int) {
	x := p.r.Float64()
	switch {
	case x < p.rootShare:
		k := p.r.IntN(100)
		if !p.global && k < 45 { // sign-ins, credential changes: us-east-1 only
			k = 45 + p.r.IntN(55)
		}
		if !p.member && isSessionAction(k) { // no session targets the management account
			k = sessionKinds[1] + p.r.IntN(100-sessionKinds[1])
		}
		return recRoot, k
	case x < p.rootShare+p.lookShare:
		return recLookalike, 0
	}
	return recBackground, 0
}

// sessionKinds are the cases k of rootRecord, [from, to), that are
// actions of a centralised-root session: a quarter of the root activity of
// us-east-1 files, close to half of other regions' (no sign-ins or
// credential changes there), where member accounts have no root
// credentials of their own and use root through sessions only.
var sessionKinds = [2]int{45, 70}

// isSessionAction reports whether rootRecord's case k is an action of a
// centralised-root session.
func isSessionAction(k int) bool { return k >= sessionKinds[0] && k < sessionKinds[1] }

// sessionActions counts the session actions file i holds.
func (w *world) sessionActions(i int) int {
	p, n := w.plan(i)
	c := 0
	for range n {
		if kind, k := p.next(); kind == recRoot && isSessionAction(k) {
			c++
		}
	}
	return c
}

func (w *world) slots() int { return len(w.cfg.Accounts) * len(w.cfg.Regions) }

func (w *world) region(i int) string {
	return w.cfg.Regions[(i/len(w.cfg.Accounts))%len(w.cfg.Regions)]
}

// periodStart is when the 5-minute period of file i begins.
func (w *world) periodStart(period int) time.Time {
	return w.cfg.Start.Add(time.Duration(period) * 5 * time.Minute)
}

// session is the session of member account ai (an index into accounts,
// not 0) in period: which regions use it decides its task policy (an IAM
// one only when all its actions are in us-east-1).
func (w *world) session(period, ai int) *session {
	base := period * w.slots()
	used, global := false, true
	for ri, reg := range w.cfg.Regions {
		if w.sessionActions(base+ri*len(w.accounts)+ai) > 0 {
			used = true
			global = global && reg == "us-east-1"
		}
	}
	mgmt := w.mgmt
	r := rand.New(rand.NewPCG(w.cfg.Seed, uint64(period)*uint64(len(w.accounts))+uint64(ai)+0xbb67ae8584caa73b))
	c := sessionCallers[r.IntN(len(sessionCallers))]
	s := &session{target: w.accounts[ai], used: used, key: "ASIA" + randString(r, upalnum, 16),
		caller: mgmt.roles[c.role], callerS: c.session,
		issued: w.periodStart(period).Add(time.Duration(r.IntN(60)) * time.Second),
		ip:     mgmt.ips[r.IntN(len(mgmt.ips))], ua: uaSDK[r.IntN(len(uaSDK))]}
	if global {
		s.policy = taskPolicies[r.IntN(len(taskPolicies))]
	} else {
		s.policy = regionalTaskPolicies[r.IntN(len(regionalTaskPolicies))]
	}
	return s
}

// mySession is the session of this file's member account and period.
func (g *fileGen) mySession() *session {
	if g.sess == nil {
		g.sess = g.w.session(g.file.idx/g.w.slots(), g.file.idx%len(g.w.accounts))
	}
	return g.sess
}

// sessionCalls writes the sts:AssumeRoot calls of the period's sessions
// that are used: in the management account's file of the first region.
func (g *fileGen) sessionCalls() {
	i := g.file.idx
	if g.acct != g.w.mgmt || i%g.w.slots() != 0 {
		return
	}
	for ai := range g.w.accounts {
		if ai == 0 {
			continue
		}
		if s := g.w.session(i/g.w.slots(), ai); s.used {
			id := g.assumeRoot(s)
			g.b = append(g.b, ',')
			g.file.records++
			g.file.sessions = append(g.file.sessions, SessionEvent{EventID: id, Key: g.file.key, AccessKeyID: s.key, Target: s.target.id})
		}
	}
}

// assumeRoot writes the sts:AssumeRoot call that opens s, in the form of
// AWS's documented example, and returns its eventID.
func (g *fileGen) assumeRoot(s *session) string {
	e := ev{source: "sts.amazonaws.com", name: "AssumeRoot", eventType: "AwsApiCall", readOnly: true,
		reqID: g.uuid(), tlsHost: "sts." + g.region + ".amazonaws.com", at: s.issued,
		ident: g.identRole(s.caller, s.callerS, "", true), ip: s.ip, ua: withService(s.ua, "sts")}
	e.req = func(g *fileGen) {
		g.s("targetPrincipal", s.target.id)
		g.obj("taskPolicyArn")
		g.s("arn", "arn:aws:iam::aws:policy/root-task/"+s.policy.name)
		g.close()
		g.int("durationSeconds", int64(sessionDuration/time.Second))
	}
	e.resp = func(g *fileGen) {
		g.obj("credentials")
		g.s("accessKeyId", s.key)
		g.s("sessionToken", "IQoJb3JpZ2luX2VjE"+g.rs(alnum, 200))
		g.s("expiration", s.issued.Add(sessionDuration).Format("Jan 2, 2006, 3:04:05 PM"))
		g.close()
	}
	return g.write(&e)
}

// sessionAction makes one action of this member account's session: a call
// its task policy allows, made between the issue and the end of the
// period, with the session's key.
func (g *fileGen) sessionAction() ev {
	s := g.mySession()
	var a *api
	if g.region == "us-east-1" {
		a = s.policy.apis[g.r.IntN(len(s.policy.apis))]
	} else {
		a = s.policy.apis[0] // a regional policy: its calls are made here
	}
	e := a.ev(g)
	e.ident = g.identAssumedRoot(s)
	e.ip, e.ua = s.ip, withService(s.ua, a.source)
	end := g.from.Add(g.span)
	e.at = s.issued.Add(time.Second + time.Duration(g.r.Int64N(int64(end.Sub(s.issued)-time.Second)))).Truncate(time.Second)
	return e
}

// identAssumedRoot writes the Root identity of an action of s.
func (g *fileGen) identAssumedRoot(s *session) func(*fileGen) {
	return func(g *fileGen) {
		g.s("type", "Root")
		g.s("principalId", g.acct.id)
		g.s("arn", g.arn("iam", "root"))
		g.s("accountId", g.acct.id)
		g.s("accessKeyId", s.key)
		g.obj("sessionContext")
		sessionAttrs(g, s.issued, false)
		g.s("assumedRoot", "true")
		g.close()
	}
}
