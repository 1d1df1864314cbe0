import assert from 'node:assert/strict';
import { ConfigError } from '../config/env.schema.js';
import { databaseStartupError, startupFailure } from '../src/runtime/startup-errors.js';

const mysqlError = (code: string, message: string) => Object.assign(new Error(message), { code });
const URL_WITH_PASSWORD = 'mysql://billed:s3cret-pw@db:3306/billed';

describe('start-up failure classification', () => {
  it('a user without rights on the tables at migration: 78, with the GRANT for the account MySQL saw', () => {
    const error = databaseStartupError(
      mysqlError('ER_TABLEACCESS_DENIED_ERROR', "CREATE command denied to user 'billed'@'172.18.0.5' for table `billed`.`migrations`"),
      URL_WITH_PASSWORD,
      'migrating',
    );
    assert.deepEqual([error.exitCode, error.variable], [78, 'DATABASE_URL']);
    assert.match(error.message, /^DATABASE_URL: user 'billed'@'172\.18\.0\.5' lacks privileges on database `billed` .*GRANT ALL ON `billed`\.\* TO 'billed'@'172\.18\.0\.5';/);
    assert.ok(!error.message.includes('s3cret-pw'));
  });

  it('a DNS that does not answer: 78, naming the host', () => {
    const error = databaseStartupError(mysqlError('EAI_AGAIN', 'getaddrinfo EAI_AGAIN db'), URL_WITH_PASSWORD, 'connecting');
    assert.equal(error.exitCode, 78);
    assert.match(error.message, /^DATABASE_URL: cannot connect to MySQL at db:3306 \(the host name db could not be resolved: DNS did not answer\)/);
  });

  it('anything else while migrating: exit 1, one line saying where, the URL masked', () => {
    const error = databaseStartupError(new Error('Duplicate column name'), URL_WITH_PASSWORD, 'migrating');
    assert.equal(error.exitCode, 1);
    assert.equal(error.message, 'start-up failed while migrating the database (DATABASE_URL mysql://billed:****@db:3306/billed): Error: Duplicate column name');
  });

  it('maps a bad variable to 78 and any other error to 1, never printing a URL password', () => {
    assert.equal(startupFailure(new ConfigError(['PORT must be a number'])).exitCode, 78);
    assert.deepEqual(startupFailure(new Error(`could not reach ${URL_WITH_PASSWORD}`)), {
      exitCode: 1,
      message: 'start-up failed: could not reach mysql://billed:****@db:3306/billed',
    });
  });
});
