import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Access and accountability: bearer tokens (only a SHA-256 of each secret is
 * kept) and the audit log of what operators and admins did with them.
 */
export class CreateAccess1764230400000 implements MigrationInterface {
  name = 'CreateAccess1764230400000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`
      CREATE TABLE access_tokens (
        id VARCHAR(32) NOT NULL,
        name VARCHAR(100) NOT NULL,
        role VARCHAR(16) NOT NULL,
        token_hash BINARY(32) NOT NULL COMMENT 'SHA-256 of the secret; the secret itself is shown once and never stored',
        last_four CHAR(4) NOT NULL COMMENT 'to recognise a token in lists without revealing it',
        created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        created_by VARCHAR(100) NULL,
        revoked_at DATETIME(3) NULL,
        revoked_by VARCHAR(100) NULL,
        PRIMARY KEY (id),
        UNIQUE KEY uq_access_tokens_hash (token_hash)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
    await queryRunner.query(`
      CREATE TABLE audit_log (
        id BIGINT NOT NULL AUTO_INCREMENT,
        at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        actor_id VARCHAR(64) NOT NULL COMMENT 'token id, "admin" for ADMIN_TOKEN, "system" for scheduled jobs',
        actor_name VARCHAR(100) NOT NULL,
        actor_role VARCHAR(16) NOT NULL,
        action VARCHAR(64) NOT NULL,
        target VARCHAR(255) NULL,
        count INT NULL COMMENT 'how many things the action touched',
        details TEXT NULL COMMENT 'JSON: the filter of a bulk replay, the role of a new token, ...',
        request_id VARCHAR(64) NULL,
        PRIMARY KEY (id),
        KEY idx_audit_log_at (at),
        KEY idx_audit_log_action (action, id),
        KEY idx_audit_log_target (target)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
    `);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE audit_log');
    await queryRunner.query('DROP TABLE access_tokens');
  }
}
