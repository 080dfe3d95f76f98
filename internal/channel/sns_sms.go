package channel

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
)

func init() { Register("sns-sms", newSNSSMS) }

// snsSMS sends a short text message to one phone number through Amazon SNS
// Publish, marked Transactional (delivery optimised for reliability).
type snsSMS struct {
	name     string
	client   *sns.Client
	phone    string
	senderID string
}

type snsSMSConfig struct {
	awsConfig   `yaml:",inline"`
	PhoneNumber string `yaml:"phone_number"`
	// SenderID is the alphanumeric sender ID where the destination country supports it.
	SenderID string `yaml:"sender_id"`
}

func newSNSSMS(c Config, d Deps) (Channel, error) {
	var cfg snsSMSConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	if !e164.MatchString(cfg.PhoneNumber) {
		return nil, c.FieldError("phone_number", "must be a phone number in E.164 form (+14155550100)")
	}
	if err := cfg.validate(c, d); err != nil {
		return nil, err
	}
	client := sns.NewFromConfig(d.AWS, func(o *sns.Options) { cfg.apply(&o.Region, &o.BaseEndpoint, &o.Retryer) })
	return &snsSMS{name: c.Name, client: client, phone: cfg.PhoneNumber, senderID: cfg.SenderID}, nil
}

func (s *snsSMS) Name() string { return s.name }

func (s *snsSMS) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	attrs := map[string]types.MessageAttributeValue{
		"AWS.SNS.SMS.SMSType": {DataType: aws.String("String"), StringValue: aws.String("Transactional")},
	}
	if s.senderID != "" {
		attrs["AWS.SNS.SMS.SenderID"] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s.senderID)}
	}
	out, err := s.client.Publish(ctx, &sns.PublishInput{
		PhoneNumber:       aws.String(s.phone),
		Message:           aws.String(smsMessage(n)),
		MessageAttributes: attrs,
	})
	if err != nil {
		return nil, awsError(s.name, "sns publish sms", err)
	}
	if aws.ToString(out.MessageId) == "" {
		return nil, errNoMessageID(s.name, "sns publish sms")
	}
	return map[string]string{"message_id": aws.ToString(out.MessageId)}, nil
}
