'use strict';
// Request bodies checked against the contract's own schemas (openapi/camara/*.yaml) with Ajv
// (JSON Schema, compiled once to JS functions) and ajv-formats (date-time, ipv4, ipv6, uri ...),
// not by hand: a change of the published contract changes what is accepted. OpenAPI 3.0 schema
// objects are JSON Schema with a few annotations of their own (example, discriminator,
// nullable), which the Ajv instance is told about.
const Ajv = require('ajv');
const addFormats = require('ajv-formats');
const { findOperation } = require('./contract');
const { CamaraError } = require('./errors');

// OpenAPI 3.0 schema keywords that are annotations only (no validation).
const ANNOTATIONS = ['example', 'externalDocs', 'xml', 'components', 'discriminator'];

/** One Ajv message: the instance path and what is wrong, e.g. "/device/phoneNumber must match pattern ...". */
function describe(error) {
  const where = error.instancePath || '(body)';
  if (error.keyword === 'additionalProperties') return `${where} has an unknown property ${error.params.additionalProperty}`;
  return `${where} ${error.message}`;
}

/**
 * A validator of the request bodies of one contract.
 * @param {any} document the parsed OpenAPI document (contract.js loadContract)
 * @returns {{ prepare: (operationId: string) => void,
 *   validateBody: (operationId: string, body: unknown) => void,
 *   validateComponent: (name: string, value: unknown, where?: string) => void }}
 *   prepare: compiles the operation's schema now (an unknown operationId throws Error);
 *   validateBody: throws CamaraError 400 INVALID_ARGUMENT naming the first problem; a body the
 *   operation does not declare must be absent (undefined)
 */
function createRequestValidator(document) {
  const ajv = new Ajv({ allErrors: false, strict: true, strictRequired: false, validateFormats: true });
  addFormats(ajv);
  ajv.addVocabulary(ANNOTATIONS);
  // The components, under an id of their own, so that the contract's "#/components/schemas/X"
  // references resolve inside it.
  const slug = String(document.info.title).toLowerCase().replace(/[^a-z0-9]+/g, '-');
  const id = `https://parlayx-gateway.invalid/openapi/camara/${slug}/${document.info.version}`;
  ajv.addSchema({ $id: id, components: { schemas: document.components.schemas } });
  const compiled = new Map();

  function validatorOf(operationId) {
    let entry = compiled.get(operationId);
    if (entry === undefined) {
      const { operation } = findOperation(document, operationId);
      const requestBody = operation.requestBody;
      const media = requestBody && requestBody.content && requestBody.content['application/json'];
      entry = {
        required: Boolean(requestBody && requestBody.required),
        validate: media ? ajv.compile({ $ref: `${id}${media.schema.$ref}` }) : null,
      };
      compiled.set(operationId, entry);
    }
    return entry;
  }

  const components = new Map();
  function componentOf(name) {
    let validate = components.get(name);
    if (validate === undefined) {
      if (!Object.hasOwn(document.components.schemas, name)) throw new Error(`schema ${name} is not in the contract`);
      validate = ajv.compile({ $ref: `${id}#/components/schemas/${name}` });
      components.set(name, validate);
    }
    return validate;
  }

  return {
    prepare(operationId) {
      validatorOf(operationId);
    },
    /**
     * Checks a value against one schema of the contract's components (a discriminator's subtype,
     * which Ajv does not select by itself). Throws CamaraError 400 INVALID_ARGUMENT naming the
     * first problem, its path prefixed with `where`.
     * @param {string} name e.g. 'AccessTokenCredential'
     * @param {unknown} value
     * @param {string} [where] e.g. '/sinkCredential'
     */
    validateComponent(name, value, where = '') {
      const validate = componentOf(name);
      if (!validate(value)) {
        const error = { ...validate.errors[0], instancePath: `${where}${validate.errors[0].instancePath}` };
        throw new CamaraError('INVALID_ARGUMENT', `Schema validation failed: ${describe(error)}`, { reason: 'schema' });
      }
    },
    validateBody(operationId, body) {
      const { required, validate } = validatorOf(operationId);
      if (body === undefined) {
        if (required) throw new CamaraError('INVALID_ARGUMENT', 'a JSON request body is required', { reason: 'noBody' });
        return;
      }
      if (validate === null) throw new CamaraError('INVALID_ARGUMENT', 'this operation takes no request body', { reason: 'body' });
      if (!validate(body)) {
        throw new CamaraError('INVALID_ARGUMENT', `Schema validation failed: ${describe(validate.errors[0])}`, { reason: 'schema' });
      }
    },
  };
}

module.exports = { createRequestValidator };
