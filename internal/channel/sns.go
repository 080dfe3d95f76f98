package channel

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
)

func init() { Register("sns", newSNSTopic) }

// snsTopic publishes the notification as JSON to an SNS topic, with a short
// Subject for email subscribers and message attributes (kind, severity,
// category, account) that subscription filter policies can match.
type snsTopic struct {
	name   string
	client *sns.Client
	topic  string
	fifo   bool
}

type snsTopicConfig struct {
	awsConfig `yaml:",inline"`
	TopicARN  string `yaml:"topic_arn"`
}

var snsTopicARN = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)

func newSNSTopic(c Config, d Deps) (Channel, error) {
	var cfg snsTopicConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	if !snsTopicARN.MatchString(cfg.TopicARN) {
		return nil, c.FieldError("topic_arn", "must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
	}
	if cfg.Region == "" && d.AWS.Region == "" {
		cfg.Region = strings.Split(cfg.TopicARN, ":")[3]
	}
	if err := cfg.validate(c, d); err != nil {
		return nil, err
	}
	client := sns.NewFromConfig(d.AWS, func(o *sns.Options) { cfg.apply(&o.Region, &o.BaseEndpoint, &o.Retryer) })
	return &snsTopic{name: c.Name, client: client, topic: cfg.TopicARN, fifo: strings.HasSuffix(cfg.TopicARN, ".fifo")}, nil
}

func (s *snsTopic) Name() string { return s.name }

// snsSubject is a Subject SNS accepts: ASCII printable, one line, under 100 characters.
func snsSubject(title string) string {
	var sb strings.Builder
	for _, r := range clean(title, 200) {
		if r >= 0x20 && r < 0x7f {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('?')
		}
	}
	s := strings.TrimSpace(sb.String())
	if len(s) > 99 {
		s = s[:96] + "..."
	}
	return s
}

func (s *snsTopic) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	m := Render(n)
	body := webhookBody{
		Version: "1", Kind: n.Kind, Title: m.Title, Summary: m.Summary,
		Incident: boundedIncident(n.Incident), Findings: boundedFindings(n.Findings, false),
	}
	// SNS messages are at most 256 KB: drop findings until it fits.
	var b []byte
	for {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return nil, Permanent(err)
		}
		if len(b) <= 200<<10 || len(body.Findings) == 0 {
			break
		}
		body.Findings = body.Findings[:len(body.Findings)/2]
	}
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(orDash(clean(v, 64)))}
	}
	in := &sns.PublishInput{
		TopicArn: aws.String(s.topic),
		Subject:  aws.String("[rootwatch] " + snsSubject(m.Title)),
		Message:  aws.String(string(b)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"kind":      str(string(n.Kind)),
			"severity":  str(string(n.Incident.Severity)),
			"category":  str(string(n.Incident.Category)),
			"accountId": str(n.Incident.AccountID),
		},
	}
	if len(*in.Subject) > 99 {
		in.Subject = aws.String((*in.Subject)[:96] + "...")
	}
	if s.fifo {
		in.MessageGroupId = aws.String(providerKey("", n.Incident.ID, 128))
		key := n.IdempotencyKey
		if key == "" {
			key = n.Incident.ID + "/" + string(n.Kind)
		}
		in.MessageDeduplicationId = aws.String(providerKey("", key, 128))
	}
	out, err := s.client.Publish(ctx, in)
	if err != nil {
		return nil, awsError(s.name, "sns publish", err)
	}
	return map[string]string{"message_id": aws.ToString(out.MessageId)}, nil
}
