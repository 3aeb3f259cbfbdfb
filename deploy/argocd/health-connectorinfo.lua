-- Argo CD health check for appflow.connectorinfo.dev/ConnectorInfo.
--
--   Healthy      Ready=True, and status.observedGeneration is the object's
--                generation (the operator has seen the current spec)
--   Degraded     Stalled=True for the current generation: a human must act
--                (invalid request, connector not found, requirements not met,
--                or a retried failure such as AccessDenied that has lasted
--                longer than the operator's --stalled-after, default 10m)
--   Progressing  anything else: not described yet, a describe pending or
--                being retried with backoff (Reconciling=True), a new spec
--                not observed yet
--
-- Install: resource.customizations.health.appflow.connectorinfo.dev_ConnectorInfo
-- in argocd-cm (see README.md beside this file).

local hs = { status = "Progressing", message = "Waiting for the operator to describe the connector" }

if obj.status == nil or obj.status.conditions == nil then
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local function find(conditionType)
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == conditionType then
      -- A condition written for an older generation says nothing about this spec.
      if generation ~= nil and condition.observedGeneration ~= nil
          and condition.observedGeneration ~= generation then
        return nil
      end
      return condition
    end
  end
  return nil
end

local function describe(condition)
  local text = condition.reason or condition.type
  if condition.message ~= nil and condition.message ~= "" then
    text = text .. ": " .. condition.message
  end
  return text
end

local stalled = find("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(stalled)
  return hs
end

local ready = find("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

if ready ~= nil then
  hs.message = describe(ready)
end
return hs
