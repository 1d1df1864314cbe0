import type { HandlerRegistry } from './handler-registry';

/**
 * The event types this service subscribes to (and creates webhook endpoints
 * for), each with its handler. Find where a type is handled here, in one step.
 */
export const eventHandlers: HandlerRegistry = {};

export const SUBSCRIBED_EVENT_TYPES: readonly string[] = Object.keys(eventHandlers);
