//! The real stack: production adapters of the domain's ports on Redis,
//! RabbitMQ and PostgreSQL. (Work in progress.)
