// Authorization the way MLflow's REST client sends it (mlflow/utils/rest_utils.py):
// username and password → Basic, else a token → Bearer, else nothing.

export function authHeaderFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const user = env.MLFLOW_TRACKING_USERNAME;
  const pass = env.MLFLOW_TRACKING_PASSWORD;
  if (user && pass) return 'Basic ' + Buffer.from(`${user}:${pass}`, 'utf8').toString('base64');
  if (env.MLFLOW_TRACKING_TOKEN) return `Bearer ${env.MLFLOW_TRACKING_TOKEN}`;
  return undefined;
}
