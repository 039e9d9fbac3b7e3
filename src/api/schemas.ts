/** The JSON schemas of the action request bodies: used by the routes and by the OpenAPI document. */
const actionBody = {
  type: 'object',
  additionalProperties: false,
  required: ['action'],
  properties: {
    action: { type: 'string', enum: ['on', 'off', 'cycle', 'reset'] },
    force: { type: 'boolean', default: false },
    reason: { type: 'string', maxLength: 200, default: '' },
    queue: { type: 'boolean', default: false },
  },
} as const;
const multiActionBody = {
  ...actionBody,
  required: ['action'],
  properties: {
    ...actionBody.properties,
    targets: { type: 'array', minItems: 1, maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 64 } },
    all: { type: 'boolean', default: false },
  },
} as const;
export const schemas = { actionBody, multiActionBody };
