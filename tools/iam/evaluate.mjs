// Evaluates requests against a role's identity policies with @cloud-copilot/iam-simulate, for
// the local stack's IAM check (localstack/flightpipe_localstack/iam_check.py). One JSON request
// per stdin line: {"id", "principal", "action", "resource", "account", "context", "policies":
// [{"name", "policy"}]}; one JSON answer per stdout line: {"id", "result", "errors"}.
import { createInterface } from 'node:readline'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  if (!line.trim()) continue
  let answer
  try {
    const asked = JSON.parse(line)
    const simulation = {
      identityPolicies: asked.policies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        principal: asked.principal,
        action: asked.action,
        resource: { resource: asked.resource, accountId: asked.account },
        contextVariables: asked.context || {}
      }
    }
    const found = await runSimulation(simulation, {})
    answer = {
      id: asked.id,
      result: found.result?.analysis?.result ?? null,
      errors: found.resultType === 'error' ? found.errors : null
    }
  } catch (error) {
    answer = { id: null, result: null, errors: String(error) }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
