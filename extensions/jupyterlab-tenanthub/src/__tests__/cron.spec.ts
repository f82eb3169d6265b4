import { describeCron } from '../cron';

function text(expression: string, timezone?: string): string {
  const preview = describeCron(expression, timezone);
  if (!preview.ok) {
    throw new Error(`unexpected error: ${preview.error}`);
  }
  return preview.text;
}

function error(expression: string): string {
  const preview = describeCron(expression);
  if (preview.ok) {
    throw new Error(`unexpectedly valid: ${preview.text}`);
  }
  return preview.error;
}

describe('the cron preview', () => {
  it('says the time and days of common schedules', () => {
    expect(text('0 6 * * 1-5', 'Europe/Paris')).toBe(
      'at 06:00 on Monday to Friday (Europe/Paris)'
    );
    expect(text('30 2 * * *')).toBe('at 02:30 (UTC)');
    expect(text('0 0 1 * *')).toBe('at 00:00 on day 1 of the month (UTC)');
    expect(text('15 9,17 * * mon,fri')).toBe('at 09:15 and 17:15 on Monday and Friday (UTC)');
    expect(text('0 12 * jan,jul sun')).toBe('at 12:00 on Sunday in January and July (UTC)');
    expect(text('0 8 * * 7')).toBe('at 08:00 on Sunday (UTC)');
  });

  it('describes steps and every-minute schedules', () => {
    expect(text('* * * * *')).toBe('every minute (UTC)');
    expect(text('*/15 * * * *')).toBe('every 15 minutes of every hour (UTC)');
    expect(text('0 */2 * * *')).toBe('at minute 0 of every 2 hours (UTC)');
    expect(text('*/10 9-17 * * 1-5')).toBe(
      'every 10 minutes past 09:00 to 17:00 on Monday to Friday (UTC)'
    );
  });

  it('knows the @ macros', () => {
    expect(text('@daily')).toBe('at 00:00 (UTC)');
    expect(text('@weekly')).toBe('at 00:00 on Sunday (UTC)');
  });

  it('says which field is wrong', () => {
    expect(error('0 6 * *')).toMatch(/5 fields .* not 4/);
    expect(error('61 6 * * *')).toBe("minute: '61' is not a number from 0 to 59");
    expect(error('0 25 * * *')).toBe("hour: '25' is not a number from 0 to 23");
    expect(error('0 6 * * funday')).toMatch(/^day of week: 'funday'/);
    expect(error('0 6 5-1 * *')).toBe("day of month: range '5-1' runs backwards");
    expect(error('*/0 * * * *')).toMatch(/^minute: step '0'/);
  });
});
