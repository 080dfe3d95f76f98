package gen

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// world is what stays the same across files: accounts with their users,
// roles, keys and addresses, derived from the seed.
type world struct {
	cfg      *Config
	accounts []*account
	mgmt     *account
}

type account struct {
	id       string
	users    []principal
	roles    []principal
	rootKey  string // the root user's long-term access key (AKIA...)
	ips      []string
	mfaID    string
	ssoUsers []string
}

type principal struct {
	name string
	id   string // AIDA... / AROA...
	key  string // AKIA... for users
}

const (
	alnum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upalnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	lowhex  = "0123456789abcdef"
	lowan   = "abcdefghijklmnopqrstuvwxyz0123456789"
)

var (
	userNames = []string{"alice", "bob", "carol", "deploy-bot", "ci-runner", "terraform", "maria.k",
		"ops-admin", "backup-agent", "grafana-reader", "svc-etl", "jenkins"}
	roleNames = []string{"OrganizationAccountAccessRole", "AWSReservedSSO_AdministratorAccess_4f2c1d0e9b8a7c6d",
		"AWSReservedSSO_ReadOnlyAccess_0a9b8c7d6e5f4a3b", "lambda-exec-orders", "eks-node-group-ng-1",
		"github-actions-deploy", "ecs-task-billing", "AWSServiceRoleForConfig", "datadog-integration",
		"karpenter-controller", "s3-replication", "rds-monitoring-role"}
	ssoNames = []string{"alice@example.com", "bob@example.com", "dev.ops@example.com", "security@example.com"}
)

func newWorld(cfg *Config) *world {
	w := &world{cfg: cfg}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	for _, id := range cfg.Accounts {
		a := &account{id: id, rootKey: "AKIA" + randString(r, upalnum, 16)}
		for _, n := range userNames {
			a.users = append(a.users, principal{name: n, id: "AIDA" + randString(r, upalnum, 17), key: "AKIA" + randString(r, upalnum, 16)})
		}
		for _, n := range roleNames {
			a.roles = append(a.roles, principal{name: n, id: "AROA" + randString(r, upalnum, 17)})
		}
		for range 8 {
			a.ips = append(a.ips, randIP(r))
		}
		a.mfaID = "arn:aws:iam::" + id + ":mfa/root-account-mfa-device"
		a.ssoUsers = ssoNames
		w.accounts = append(w.accounts, a)
	}
	w.mgmt = w.accounts[0]
	return w
}

func randString(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// randIP returns a public-looking IPv4 address (only ever written as text).
func randIP(r *rand.Rand) string {
	for {
		a := 3 + r.IntN(220)
		if a == 10 || a == 127 || a == 172 || a == 192 || a == 169 || a == 100 {
			continue
		}
		return fmt.Sprintf("%d.%d.%d.%d", a, r.IntN(256), r.IntN(256), 1+r.IntN(254))
	}
}

// fileGen writes the records of one file.
type fileGen struct {
	*buf
	w      *world
	r      *rand.Rand
	acct   *account
	region string
	file   *file
	from   time.Time
	span   time.Duration
	t      time.Time // the current record's eventTime
	u      [36]byte
	sess   *session // this member account's session of the period, once needed
}

func (g *fileGen) pick(l []string) string { return l[g.r.IntN(len(l))] }

func (g *fileGen) chance(p float64) bool { return g.r.Float64() < p }

func (g *fileGen) rs(alphabet string, n int) string { return randString(g.r, alphabet, n) }

// uuid returns a random (version 4) UUID.
func (g *fileGen) uuid() string {
	a, b := g.r.Uint64(), g.r.Uint64()
	a = a&^(0xf<<12) | 4<<12
	b = b&^(3<<62) | 2<<62
	var x [16]byte
	for i := range 8 {
		x[i] = byte(a >> (56 - 8*i))
		x[8+i] = byte(b >> (56 - 8*i))
	}
	u := g.u[:0]
	for i, c := range x {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			u = append(u, '-')
		}
		u = append(u, lowhex[c>>4], lowhex[c&0xf])
	}
	return string(u)
}

func (g *fileGen) ip() string {
	if g.chance(0.1) {
		return randIP(g.r)
	}
	return g.pick(g.acct.ips)
}

func (g *fileGen) arn(kind, rest string) string {
	return "arn:aws:" + kind + "::" + g.acct.id + ":" + rest
}

// otherAccount returns an account id that is not this file's.
func (g *fileGen) otherAccount() string {
	for _, a := range g.w.accounts {
		if a != g.acct && g.chance(0.5) {
			return a.id
		}
	}
	return fmt.Sprintf("%012d", 100000000000+g.r.Int64N(899999999999))
}
