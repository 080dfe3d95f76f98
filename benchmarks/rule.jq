# The root-activity rule of docs/rule.md (the CIS AWS Foundations metric
# filter), for `jq -r -f benchmarks/rule.jq` over CloudTrail log files:
# prints the eventID of every record whose userIdentity.type is "Root", whose
# userIdentity.invokedBy is absent or null, and whose eventType is not
# "AwsServiceEvent". `[]?` skips documents without Records (digest files).
.Records[]?
| select(.userIdentity.type == "Root"
         and .userIdentity.invokedBy == null
         and .eventType != "AwsServiceEvent")
| .eventID
